"""2-D convolution (NHWC, HWIO) with gradients that are fast on the CPU.

XLA's CPU backend computes a convolution and its input gradient at 300-460 GFLOP/s on this
project's 2-core machine, but the *kernel* gradient of a 3x3 convolution over a large image at
45-80 GFLOP/s (``benchmarks/investigations/conv_gradients.py``): it contracts over every
pixel at once and streams the image through memory once per kernel tap. Here the kernel
gradient is accumulated
over bands of a few output rows (a ``lax.scan``), each band's k*k shifted copies built while
they fit in cache and contracted with one matrix product: 3.5-5x faster for VGG's conv1_2 and
conv2_2 at 500x500, about 2x for conv3_3 and conv4_3. Layers with a large kernel over a small
map (fc6: 7x7 over 22x22) are computed as one matrix product of the shifted copies with the
kernel, forward and backward, which XLA runs near matmul speed.

A convolution with few inputs per output (k*k*in <= 32: the first layer on an RGB image) is one
matrix product of its k*k shifted copies on a GPU or TPU: on an H100, cuDNN's kernel gradient
of VGG's conv1_1 (3 -> 64 channels over a 698x698 map) ran at 157 GFLOP/s through XLA against
8,159 in PyTorch, 11 ms of a 22 ms training step
(``benchmarks/investigations/conv_gradients.py``). On the CPU the banded kernel gradient is
faster for it (0.16 s against 0.23 s with its forward pass).
A layer whose shifted copies are no larger than its kernel (fc6) is one matrix product on
accelerators too (on the CPU it is one already, below): on an H100 cuDNN ran
fc6 at 256x256 (7x7, 512 -> 4096 over 15x15) in 1.04 ms and spent another 0.62 ms per call
converting its 411 MB kernel to its own layout, 1.7 of the 2.6 ms of GPU time of inference
(``python -m benchmarks.investigations.kernels``).

A 1x1 convolution on the CPU (fc7, the score layers, ResNet's bottlenecks and shortcuts) is a
matrix product over the channels: XLA otherwise hands the convolution to a library kernel
that ran fc7 at 500x500 (4096 -> 4096 over 16x16) in 85 / 130 / 158 ms (forward / input /
kernel gradient) against 43 / 46 / 65 ms as a product; ResNet-50's 1x1 layers ran 1.2-2.5x
faster forward and backward to the input, up to 8x in the kernel gradient
(``python -m benchmarks.investigations.pointwise``).

A 3x3 stride-1 convolution with at least 64 x 64 channel pairs (VGG's conv1_2 onwards,
ResNet's undilated bottlenecks), float32, runs on the CPU by Winograd's F(4x4, 3x3), or
F(2x2, 3x3) where its output map has under 64 x 64 pixels per image
(``fcn_jax/winograd.py``): 4x (F4) or 2.25x (F2) fewer multiplications, forward and in both
gradients. At 500x500 in caffe mode VGG's conv4_2 (512 -> 512 over 88x88) took 105 / 129 /
111 ms (forward / input / kernel gradient) against 182 / 190 ms for the library's forward and
input gradient and 288 ms for the banded kernel gradient
(``python -m benchmarks.investigations.winograd``).
On small maps F(2x2, 3x3) is as fast or faster, its matrix products having 4x the rows:
conv5_1 (44x44), forward with both gradients, took 104-134 ms against 143-156 for
F(4x4, 3x3) in three runs.

All are the same mathematics as ``lax.conv_general_dilated`` (Winograd's up to float
rounding, about 5e-6 of the largest output); otherwise, on other backends (GPU, TPU), the
library convolution is used unchanged.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from fcn_jax.kernels import winograd

NHWC = ("NHWC", "HWIO", "NHWC")
BAND_BYTES = 2 * 2**20  # the shifted copies of one band of rows: about a core's L2 cache
MIN_BAND_PIXELS = 256  # never contract over fewer output pixels per band than this
WINOGRAD_CHANNEL_PAIRS = 64 * 64  # in * out at least this: a 3x3 layer goes by Winograd
F4_PIXELS = 64 * 64  # output pixels per image from which F(4x4, 3x3); F(2x2, 3x3) below
FEW_INPUTS = 32  # k*k*in at most this (a first layer on RGB): one matrix product on accelerators


def conv2d(
    x: jax.Array, kernel: jax.Array, stride: int = 1, pad: int = 0, groups: int = 1,
    dilation: int = 1,
):  # fmt: skip
    """Cross-correlation of NHWC ``x`` with a (k, k, in/groups, out) kernel, zero padding
    ``pad`` on every side, taps ``dilation`` apart, as ``lax.conv_general_dilated``."""
    k = kernel.shape[0]
    if k == 1 and groups == 1 and jax.default_backend() == "cpu":
        return _pointwise(x, kernel, stride, pad)
    if dilation > 1 or stride > 1 or groups > 1 or k == 1:
        return _native(x, kernel, pad, stride, groups, dilation)
    if jax.default_backend() != "cpu":
        matmul = im2col_on_accelerator(x, kernel, pad)
        return _as_matmul(x, kernel, pad) if matmul else _native(x, kernel, pad)
    if k >= 5:
        return _as_matmul(x, kernel, pad)
    if form := winograd_form(x, kernel, pad):
        return winograd.conv3x3(x, kernel, pad, form)
    return _banded_kernel_gradient(x, kernel, pad)


def winograd_form(x, kernel, pad: int) -> winograd.Minimal | None:
    """The Winograd form a CPU stride-1 convolution of ``x`` (or its shape) takes: F4 or F2
    for a float32 3x3 kernel with enough channel pairs, None otherwise (and for an empty
    output, left to the library's error)."""
    k, cin, cout = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    exact = x.dtype == kernel.dtype == jnp.float32  # narrower types: rounding in the transforms
    # output pixels per image (not per batch: a vmapped and a batched call take the same form)
    pixels = max(0, x.shape[1] + 2 * pad - 2) * max(0, x.shape[2] + 2 * pad - 2)
    if k != 3 or pad > 2 or cin * cout < WINOGRAD_CHANNEL_PAIRS or not exact:
        return None
    if not pixels or not x.shape[0]:
        return None
    return winograd.F4 if pixels >= F4_PIXELS else winograd.F2


def im2col_on_accelerator(x, kernel, pad: int) -> bool:
    """Whether a stride-1 convolution of ``x`` (or its shape) is one matrix product of its
    shifted copies on a GPU or TPU: where each output takes few inputs (k*k*in <= FEW_INPUTS,
    conv1_1 on RGB), or where one image's copies are no larger than the kernel (output pixels
    per image at most ``out``: fc6, whose 7x7x512x4096 kernel cuDNN re-lays out every call).
    Counted per image, as ``winograd_form``, so a vmapped and a batched call agree."""
    k, cin, cout = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    rows, cols = x.shape[1] + 2 * pad - k + 1, x.shape[2] + 2 * pad - k + 1
    return k * k * cin <= FEW_INPUTS or max(rows, 0) * max(cols, 0) <= cout


def _native(x, kernel, pad, stride=1, groups=1, dilation=1):
    """XLA's own convolution."""
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=NHWC,
        feature_group_count=groups, rhs_dilation=(dilation, dilation),
    )  # fmt: skip


def _pointwise(x, kernel, stride, pad):
    """A 1x1 convolution as a matrix product over the channels (of every ``stride``-th pixel)."""
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))[:, ::stride, ::stride]
    return jnp.einsum("nhwc,cd->nhwd", x, kernel[0, 0])


def _shifted(x: jax.Array, k: int, rows: int, cols: int) -> jax.Array:
    """The k*k shifted windows of ``x`` (already padded) stacked on the channel axis, tap-major:
    (n, rows, cols, k*k*c)."""
    return jnp.concatenate(
        [x[:, a : a + rows, b : b + cols] for a in range(k) for b in range(k)], axis=-1
    )


def _as_matmul(x, kernel, pad):
    """Convolution as one matrix product of the shifted windows with the kernel (im2col)."""
    k, _, cin, cout = kernel.shape
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows, cols = x.shape[1] - k + 1, x.shape[2] - k + 1
    if rows < 1 or cols < 1:
        return _native(x, kernel, 0)  # let the library raise its own error
    patches = _shifted(x, k, rows, cols)
    return jnp.einsum("nhwq,qd->nhwd", patches, kernel.reshape(k * k * cin, cout))


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _banded_kernel_gradient(x, kernel, pad):
    return _native(x, kernel, pad)


def _forward(x, kernel, pad):
    return _native(x, kernel, pad), (x, kernel)


def _backward(pad, residuals, g):
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda x: _native(x, kernel, pad), x)
    return input_vjp(g)[0], kernel_gradient(x, g, kernel.shape[0], pad).astype(kernel.dtype)


_banded_kernel_gradient.defvjp(_forward, _backward)


def kernel_gradient(x: jax.Array, g: jax.Array, k: int, pad: int) -> jax.Array:
    """d(sum(g * conv(x, w))) / dw for a stride-1 convolution: (k, k, in, out), accumulated
    over bands of output rows."""
    _, height, width, cout = g.shape
    cin = x.shape[-1]
    per_row = width * k * k * cin * x.dtype.itemsize
    rows = max(-(-MIN_BAND_PIXELS // width), BAND_BYTES // per_row, 1)
    rows = min(rows, height)
    bands = -(-height // rows)
    extra = bands * rows - height  # zero rows of g contribute nothing
    x = jnp.pad(x, ((0, 0), (pad, pad + extra), (pad, pad), (0, 0)))
    g = jnp.pad(g, ((0, 0), (0, extra), (0, 0), (0, 0)))

    def band(total, i):
        xs = jax.lax.dynamic_slice_in_dim(x, i * rows, rows + k - 1, axis=1)
        gs = jax.lax.dynamic_slice_in_dim(g, i * rows, rows, axis=1)
        patches = _shifted(xs, k, rows, width)
        return total + jnp.einsum(
            "nhwq,nhwd->qd", patches, gs, preferred_element_type=jnp.float32
        ), None

    total, _ = jax.lax.scan(band, jnp.zeros((k * k * cin, cout), jnp.float32), jnp.arange(bands))
    return total.reshape(k, k, cin, cout)
