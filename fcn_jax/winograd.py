"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast
Algorithms for Convolutional Neural Networks", CVPR 2016), with both gradients in the same form.

Each 2x2 block of outputs comes from a 4x4 tile of inputs (tiles overlap by two): the tile and
the kernel are each taken to a 4x4 "Winograd domain" by a fixed linear map (B^T d B, G g G^T),
multiplied there point by point, summed over input channels (16 matrix products, one per point)
and taken back by A^T m A. That is 16 products per 4 outputs instead of 36: 2.25x fewer
multiplications, at the price of the transforms (additions only, and halves). The maps use
only 0, +-1 and 1/2, so float32 results differ from a direct convolution by rounding only.

The image is processed in bands of tile rows (a ``lax.scan``) so each band's transformed tiles
fit in cache and each matrix product has a few thousand rows, where the CPU library is fastest.
The input gradient is the same computation on the output gradient with the flipped, transposed
kernel; the kernel gradient sums, band by band, the transformed input times the output gradient
taken back through A^T (A dY A^T), and maps the 16 sums to 3x3 by G^T.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

BAND_BYTES = 4 * 2**20  # one band's transformed input tiles (16 x tiles x channels, float32)
MIN_TILES = 256  # never fewer 2x2 output blocks per band: the row count of each band's products

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))  # input tile, 4 -> 4
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))  # kernel, 3 -> 4
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))  # back to outputs, 4 -> 2


def _transpose(matrix):
    return tuple(zip(*matrix, strict=True))


def _combine(matrix, part):
    """[sum_i M[a][i] part(i) for each row a of M], skipping zero coefficients."""
    out = []
    for row in matrix:
        terms = [part(i) if c == 1 else -part(i) if c == -1 else part(i) * c
                 for i, c in enumerate(row) if c]  # fmt: skip
        out.append(sum(terms[1:], terms[0]))
    return out


def _both_axes(matrix, first, second):
    """M X M^T of every 2-D block X, one axis at a time: ``first(i)`` is row i of the blocks,
    ``second(v, j)`` column j of the rows already mapped. Result: (a, b, ...) leading axes."""
    v = jnp.stack(_combine(matrix, first))
    return jnp.stack(_combine(matrix, lambda j: second(v, j)), axis=1)


def _every_other(x, start, count, axis):
    return jax.lax.slice_in_dim(x, start, start + 2 * count - 1, 2, axis)


def _tiles(band, rows, cols):
    """(n, 2 rows + 2, 2 cols + 2, c) input rows -> (16, n rows cols, c): B^T d B of each tile."""
    v = _both_axes(
        B_T, lambda i: _every_other(band, i, rows, 1), lambda v, j: _every_other(v, j, cols, 3)
    )
    return v.reshape(16, -1, band.shape[-1])


def _kernel_points(kernel):
    """(3, 3, in, out) -> (16, in, out): G g G^T."""
    return _both_axes(G, lambda i: kernel[i], lambda v, j: v[:, j]).reshape(16, *kernel.shape[2:])


def _layout(x, pad):
    """The padded input, output size, tile columns, tile rows per band and band count."""
    n, h, w, cin = x.shape
    ho, wo = h + 2 * pad - 2, w + 2 * pad - 2
    tile_rows, cols = -(-ho // 2), -(-wo // 2)
    tiles = max(MIN_TILES, BAND_BYTES // (16 * cin * x.dtype.itemsize))
    rows = max(1, min(tile_rows, tiles // (n * cols)))
    bands = -(-tile_rows // rows)
    widths = ((0, 0), (pad, 2 * rows * bands + 2 - h - pad), (pad, 2 * cols + 2 - w - pad), (0, 0))
    return jnp.pad(x, widths), (ho, wo), cols, rows, bands


def _convolve(x, kernel, pad):
    n, cout = x.shape[0], kernel.shape[-1]
    xp, (ho, wo), cols, rows, bands = _layout(x, pad)
    points = _kernel_points(kernel)

    def band(_, i):
        tiles = _tiles(jax.lax.dynamic_slice_in_dim(xp, 2 * rows * i, 2 * rows + 2, 1), rows, cols)
        m = jnp.einsum("ptc,pcd->ptd", tiles, points).reshape(4, 4, n, rows, cols, cout)
        y = _both_axes(A_T, lambda i: m[i], lambda v, j: v[:, j]).transpose(2, 3, 0, 4, 1, 5)
        return None, y.reshape(n, 2 * rows, 2 * cols, cout)

    _, ys = jax.lax.scan(band, None, jnp.arange(bands))
    y = jnp.moveaxis(ys, 0, 1).reshape(n, 2 * rows * bands, 2 * cols, cout)
    return y[:, :ho, :wo]


def kernel_gradient(x, g, pad):
    """d(sum(g * conv(x, w))) / dw for a 3x3 stride-1 convolution with padding ``pad``."""
    cin, cout = x.shape[-1], g.shape[-1]
    xp, (ho, wo), cols, rows, bands = _layout(x, pad)
    g = jnp.pad(g, ((0, 0), (0, 2 * rows * bands - ho), (0, 2 * cols - wo), (0, 0)))
    a = _transpose(A_T)

    def band(total, i):
        tiles = _tiles(jax.lax.dynamic_slice_in_dim(xp, 2 * rows * i, 2 * rows + 2, 1), rows, cols)
        gb = jax.lax.dynamic_slice_in_dim(g, 2 * rows * i, 2 * rows, 1)
        dm = _both_axes(
            a, lambda i: _every_other(gb, i, rows, 1), lambda v, j: _every_other(v, j, cols, 3)
        ).reshape(16, -1, cout)
        product = jnp.einsum("ptc,ptd->pcd", tiles, dm, preferred_element_type=jnp.float32)
        return total + product, None

    total, _ = jax.lax.scan(band, jnp.zeros((16, cin, cout), jnp.float32), jnp.arange(bands))
    total = total.reshape(4, 4, cin, cout)
    return _both_axes(_transpose(G), lambda i: total[i], lambda v, j: v[:, j])


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv3x3(x: jax.Array, kernel: jax.Array, pad: int) -> jax.Array:
    """Cross-correlation of NHWC ``x`` with a (3, 3, in, out) kernel, stride 1, zero padding
    ``pad`` (0, 1 or 2) on every side: ``lax.conv_general_dilated`` up to float rounding."""
    if kernel.shape[:2] != (3, 3) or pad not in (0, 1, 2):
        raise ValueError(f"conv3x3: needs a 3x3 kernel and pad 0-2, got {kernel.shape}, {pad}")
    return _convolve(x, kernel, pad)


def _forward(x, kernel, pad):
    return conv3x3(x, kernel, pad), (x, kernel)


def _backward(pad, residuals, g):
    x, kernel = residuals
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)
    dx = _convolve(g, flipped.astype(g.dtype), 2 - pad)
    return dx.astype(x.dtype), kernel_gradient(x, g, pad).astype(kernel.dtype)


conv3x3.defvjp(_forward, _backward)
