"""3x3 stride-1 convolution by Winograd's minimal filtering F(m x m, 3x3) (Lavin and Gray,
"Fast Algorithms for Convolutional Neural Networks", CVPR 2016), with both gradients in the
same form.

Each m x m block of outputs comes from an (m + 2)^2 tile of inputs (tiles overlap by two): the
tile and the kernel are each taken to an (m + 2)^2-point "Winograd domain" by fixed linear maps
(B^T d B, G g G^T), multiplied there point by point, summed over input channels (one matrix
product per point) and taken back by A^T M A. F(2x2, 3x3) makes 16 products per 4 outputs
(2.25x fewer than 36), F(4x4, 3x3) 36 per 16 (4x fewer, with 2.25 transformed values per
input value against 4), at the price of the transforms (additions and a few multiplications
by constants). Both are a direct convolution up to float rounding (F4's constants, 4, 5, 8,
1/6 and 1/24, round more than F2's 0, +-1 and 1/2).

The image is processed in bands of tile rows (a ``lax.scan``) so each band's transformed tiles
stay near the cache and each matrix product has at least 256 rows where the map has that
many tiles. The input gradient
is the same computation on the output gradient with the flipped, transposed kernel; the
kernel gradient sums, band by band, the transformed input times the output gradient taken back
through A^T (A dY A^T), and maps the sums to 3x3 by G^T. Timings and errors:
``docs/performance.md``, "Convolution kernels".
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

BAND_BYTES = 4 * 2**20  # one band's transformed input tiles (points x tiles x channels)
MIN_TILES = 256  # never fewer output blocks per band: the row count of each band's products


class Minimal(NamedTuple):
    """F(m x m, 3x3): an (m + 2)^2-point tile transform ``b_t``, kernel transform ``g`` and
    output transform ``a_t`` (m rows)."""

    b_t: tuple
    g: tuple
    a_t: tuple


F2 = Minimal(  # points 0, 1, -1 and infinity
    b_t=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
    g=((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)),
    a_t=((1, 1, 1, 0), (0, 1, -1, -1)),
)
F4 = Minimal(  # points 0, 1, -1, 2, -2 and infinity
    b_t=((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
         (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
    g=((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
       (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
    a_t=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)),
)  # fmt: skip


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


def _strided(x, start, count, step, axis):
    return jax.lax.slice_in_dim(x, start, start + step * (count - 1) + 1, step, axis)


def _tiles(f, band, rows, cols):
    """(n, m rows + 2, m cols + 2, c) input rows -> (points, n rows cols, c): B^T d B of every
    tile (m = the output block size of ``f``)."""
    m = len(f.a_t)
    v = _both_axes(
        f.b_t,
        lambda i: _strided(band, i, rows, m, 1),
        lambda v, j: _strided(v, j, cols, m, 3),
    )
    return v.reshape(len(f.b_t) ** 2, -1, band.shape[-1])


def _kernel_points(f, kernel):
    """(3, 3, in, out) -> (points, in, out): G g G^T, as one product of the 9 taps with the
    (points, 9) matrix kron(G, G) (faster than two passes of ``_both_axes``)."""
    g = jnp.asarray(_kernel_transform(f), kernel.dtype)
    return jnp.dot(g, kernel.reshape(9, -1)).reshape(-1, *kernel.shape[2:])


def _kernel_transform(f) -> np.ndarray:
    """kron(G, G): the (points, 9) map from a kernel's taps to its Winograd points; its
    transpose takes sums at the points back to the taps (G^T M G)."""
    return np.kron(f.g, f.g)


def _layout(f, x, pad):
    """Output size (ho, wo), tile columns, tile rows per band and band count."""
    n, h, w, cin = x.shape
    m, points = len(f.a_t), len(f.b_t) ** 2
    ho, wo = h + 2 * pad - 2, w + 2 * pad - 2
    tile_rows, cols = -(-ho // m), -(-wo // m)
    tiles = max(MIN_TILES, BAND_BYTES // (points * cin * x.dtype.itemsize))
    rows = max(1, min(tile_rows, tiles // max(1, n * cols)))
    return (ho, wo), cols, rows, -(-tile_rows // rows)


def _band(x, start, length, top, bottom, left, right):
    """Rows [start, start + length) of ``x`` zero-padded by ``top`` / ``bottom`` rows and
    ``left`` / ``right`` columns, padding only those rows (never a whole padded copy of x)."""
    h = x.shape[1]
    have = min(length, h)
    first = jnp.clip(start - top, 0, h - have)  # the first row of x the band needs
    rows = jax.lax.dynamic_slice_in_dim(x, first, have, 1)
    rows = jnp.pad(rows, ((0, 0), (top, bottom + length - have), (left, right), (0, 0)))
    return jax.lax.dynamic_slice_in_dim(rows, start - first, length, 1)


def _convolve(f, x, points, pad, transposed=False):
    """The output, band by band, from the kernel's Winograd points (``_kernel_points``):
    (points, in, out), or (points, out, in) with ``transposed``. Each band's m x rows output
    rows are written in place. The last band is moved up to end at the last row (recomputing
    a few rows) so no band overruns."""
    n, h, w, _ = x.shape
    cout, m, side = points.shape[1 if transposed else 2], len(f.a_t), len(f.b_t)
    (ho, wo), cols, rows, bands = _layout(f, x, pad)
    span, keep = m * rows, min(m * rows, ho)
    bottom, right = max(pad, span + 2 - h - pad), m * cols + 2 - w - pad
    spec = "ptc,pdc->ptd" if transposed else "ptc,pcd->ptd"

    def band(out, i):
        at = jnp.minimum(span * i, ho - keep)
        xb = _band(x, at, span + 2, pad, bottom, pad, right)
        products = jnp.einsum(spec, _tiles(f, xb, rows, cols), points)
        products = products.reshape(side, side, n, rows, cols, cout)
        y = _both_axes(f.a_t, lambda i: products[i], lambda v, j: v[:, j])
        y = y.transpose(2, 3, 0, 4, 1, 5).reshape(n, span, m * cols, cout)[:, :keep, :wo]
        return jax.lax.dynamic_update_slice_in_dim(out, y.astype(out.dtype), at, 1), None

    out, _ = jax.lax.scan(band, jnp.zeros((n, ho, wo, cout), x.dtype), jnp.arange(bands))
    return out


def _kernel_gradient(x, g, pad, f: Minimal):
    """d(sum(g * conv(x, w))) / dw for a 3x3 stride-1 convolution with padding ``pad``."""
    h, w, cin, cout = *x.shape[1:], g.shape[-1]
    m, side = len(f.a_t), len(f.b_t)
    (ho, wo), cols, rows, bands = _layout(f, x, pad)
    span = m * rows  # bands do not overlap here; rows past the output have g = 0

    def band(total, i):
        xb = _band(
            x, span * i, span + 2, pad, span * bands + 2 - h - pad, pad, m * cols + 2 - w - pad
        )
        gb = _band(g, span * i, span, 0, span * bands - ho, 0, m * cols - wo)
        dm = _both_axes(  # A dY A^T
            _transpose(f.a_t),
            lambda i: _strided(gb, i, rows, m, 1),
            lambda v, j: _strided(v, j, cols, m, 3),
        ).reshape(side * side, -1, cout)
        tiles = _tiles(f, xb, rows, cols)
        return total + jnp.einsum(
            "ptc,ptd->pcd", tiles, dm, preferred_element_type=jnp.float32
        ), None

    zeros = jnp.zeros((side * side, cin, cout), jnp.float32)
    total, _ = jax.lax.scan(band, zeros, jnp.arange(bands))
    g_t = jnp.asarray(_kernel_transform(f).T, jnp.float32)
    return jnp.dot(g_t, total.reshape(side * side, -1)).reshape(3, 3, cin, cout)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv3x3(x: jax.Array, kernel: jax.Array, pad: int, f: Minimal) -> jax.Array:
    """Cross-correlation of NHWC ``x`` with a (3, 3, in, out) kernel, stride 1, zero padding
    ``pad`` (0, 1 or 2) on every side, by ``f``: ``lax.conv_general_dilated`` up to float
    rounding."""
    if kernel.shape[:2] != (3, 3) or pad not in (0, 1, 2):
        raise ValueError(f"conv3x3: needs a 3x3 kernel and pad 0-2, got {kernel.shape}, {pad}")
    if min(x.shape[1:3]) + 2 * pad < 3:
        raise ValueError(f"conv3x3: a {x.shape[1]}x{x.shape[2]} input with pad {pad} has no output")
    return _convolve(f, x, _kernel_points(f, kernel), pad)


def _forward(x, kernel, pad, f):
    return conv3x3(x, kernel, pad, f), (x, kernel)


def _backward(pad, f, residuals, g):
    x, kernel = residuals
    # the input gradient convolves g with the flipped kernel, its in and out swapped: the
    # swap is left to the matrix products (faster than transposing inside the transforms)
    points = _kernel_points(f, kernel[::-1, ::-1].astype(g.dtype))
    dx = _convolve(f, g, points, 2 - pad, transposed=True)
    return dx.astype(x.dtype), _kernel_gradient(x, g, pad, f).astype(kernel.dtype)


conv3x3.defvjp(_forward, _backward)
