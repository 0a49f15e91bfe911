"""Deconvolution (Caffe/torch ``ConvTranspose``, NHWC, (k, k, in, out) kernel) in the forms
:mod:`fcn_jax.kernels.choice` names: input unit ``i`` writes ``kernel[a] * x[i]`` to output
``stride * i - pad + a``.

PHASES computes it as ``stride**2`` phase convolutions (sub-pixel form): output ``s*q + r`` is
``sum_j x[q - j] kernel[r + s*j]``, a stride-1 convolution with an m x m kernel (m = ceil(k / s))
per phase r, interleaved afterwards. That costs the deconvolution's true FLOPs, where the
textbook form, DILATED (XLA's convolution of the s-dilated input with the flipped kernel),
multiplies s**2 times more, mostly by the zeros it inserted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fcn_jax.geometry import Upsample
from fcn_jax.kernels import choice, conv
from fcn_jax.kernels.choice import Form


def transposed_conv(
    x: jax.Array, kernel: jax.Array, stride: int, pad: int, kernels: str = "auto"
) -> jax.Array:
    """The deconvolution of ``x`` by ``kernel``, in the form ``choice.deconv_form`` gives under
    the ``kernels`` policy (the phases' convolutions then each under the same policy)."""
    form = choice.deconv_form(kernels, choice.backend())
    return deconvolve(form, x, kernel, stride, pad, kernels)


def deconvolve(
    form: Form, x: jax.Array, kernel: jax.Array, stride: int, pad: int, kernels: str = "auto"
) -> jax.Array:
    """The deconvolution in the named ``form`` (PHASES or DILATED)."""
    match form:
        case Form.PHASES:
            return phases(x, kernel, stride, pad, kernels)
        case Form.DILATED:
            return dilated(x, kernel, stride, pad)
    raise ValueError(f"{form!r} is not a form of deconvolution")


def phases(x, kernel, stride: int, pad: int, kernels: str = "auto") -> jax.Array:
    """The deconvolution as ``stride**2`` interleaved stride-1 convolutions (``conv.conv2d``
    under ``kernels``)."""
    k = kernel.shape[0]
    s, cin, cout = stride, kernel.shape[2], kernel.shape[3]
    m = -(-k // s)
    taps = jnp.pad(kernel, ((0, s * m - k), (0, s * m - k), (0, 0), (0, 0)))
    # a = j*s + r -> (j, r); the sum over j is a correlation with j reversed
    taps = taps.reshape(m, s, m, s, cin, cout)[::-1, :, ::-1]
    taps = taps.transpose(0, 2, 4, 1, 3, 5).reshape(m, m, cin, s * s * cout)
    out = conv.conv2d(x, taps, pad=m - 1, kernels=kernels)
    n, hq, wq, _ = out.shape
    full = out.reshape(n, hq, wq, s, s, cout).transpose(0, 1, 3, 2, 4, 5)
    full = full.reshape(n, hq * s, wq * s, cout)
    return _cropped(full, x, k, s, pad)


def dilated(x, kernel, stride: int, pad: int) -> jax.Array:
    """The deconvolution as XLA's convolution of the ``stride``-dilated input with the
    flipped kernel, fully padded, then cropped by ``pad``."""
    k = kernel.shape[0]
    full = jax.lax.conv_general_dilated(
        x, kernel[::-1, ::-1], (1, 1), ((k - 1, k - 1), (k - 1, k - 1)),
        lhs_dilation=(stride, stride), dimension_numbers=conv.NHWC,
    )  # fmt: skip
    return _cropped(full, x, k, stride, pad)


def _cropped(full, x, k: int, stride: int, pad: int) -> jax.Array:
    """Rows and columns [pad, pad + output size) of the uncropped deconvolution ``full``."""
    height, width = (Upsample(k, stride, pad).out_size(size) for size in x.shape[1:3])
    return full[:, pad : pad + height, pad : pad + width]
