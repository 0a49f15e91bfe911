"""2-D convolution (NHWC, HWIO) in the forms :mod:`fcn_jax.kernels.choice` names, each the same
function as ``lax.conv_general_dilated`` with the same gradients (Winograd's up to float
rounding).

``conv2d`` asks the choice for the form of a layer and runs it with ``convolve``. The forms: XLA's
own convolution; a 1x1 convolution as a matrix product over the channels; im2col, one matrix
product of the k*k shifted copies of the input with the kernel, forward and backward; XLA's
forward and input gradient with the kernel gradient accumulated over bands of a few output rows
(a ``lax.scan``, each band's shifted copies built while they fit in cache and contracted with one
matrix product); and Winograd's F(4x4, 3x3) and F(2x2, 3x3) (``winograd.py``). Why each layer
takes the form it does, with the measurements: ``docs/performance.md``, "Convolution kernels".
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from fcn_jax.kernels import choice, winograd
from fcn_jax.kernels.choice import Form

NHWC = ("NHWC", "HWIO", "NHWC")
BAND_BYTES = 2 * 2**20  # the shifted copies of one band of rows: about a core's L2 cache
MIN_BAND_PIXELS = 256  # never contract over fewer output pixels per band than this


def conv2d(
    x: jax.Array, kernel: jax.Array, stride: int = 1, pad: int = 0, groups: int = 1,
    dilation: int = 1, kernels: str = "auto",
):  # fmt: skip
    """Cross-correlation of NHWC ``x`` with a (k, k, in/groups, out) kernel, zero padding
    ``pad`` on every side, taps ``dilation`` apart, as ``lax.conv_general_dilated``; in the
    form ``choice.conv_form`` gives under the ``kernels`` policy on this backend."""
    dtype = x.dtype if x.dtype == kernel.dtype else None
    form = choice.conv_form(kernels, choice.backend(), x.shape, kernel.shape, stride, pad,
                            groups, dilation, dtype)  # fmt: skip
    return convolve(form, x, kernel, stride, pad, groups, dilation)


def convolve(
    form: Form, x: jax.Array, kernel: jax.Array, stride: int = 1, pad: int = 0, groups: int = 1,
    dilation: int = 1,
):  # fmt: skip
    """``conv2d`` in the named ``form``; the forms other than NATIVE take what the choice gives
    them (POINTWISE a 1x1 kernel without groups; the others stride 1, no groups, no dilation;
    Winograd's a 3x3 kernel and pad 0-2)."""
    match form:
        case Form.NATIVE:
            return _native(x, kernel, pad, stride, groups, dilation)
        case Form.POINTWISE:
            return _pointwise(x, kernel, stride, pad)
    if stride != 1 or groups != 1 or dilation != 1:
        raise ValueError(f"{form}: needs stride, groups and dilation 1")
    match form:
        case Form.IM2COL:
            return _as_matmul(x, kernel, pad)
        case Form.BANDED:
            return _banded_kernel_gradient(x, kernel, pad)
        case Form.WINOGRAD_F4:
            return winograd.conv3x3(x, kernel, pad, winograd.F4)
        case Form.WINOGRAD_F2:
            return winograd.conv3x3(x, kernel, pad, winograd.F2)
    raise ValueError(f"{form!r} is not a form of convolution")


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
