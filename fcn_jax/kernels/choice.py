"""Which form each convolution takes: one pure function of the policy, the backend and the
layer's shape, and the one place that asks JAX for the backend.

Policies (``KERNELS``): ``"auto"`` takes, per layer, the form measured fastest on the backend
(``docs/performance.md``, "Convolution kernels"); ``"xla"`` takes XLA's own convolution
everywhere (``lax.conv_general_dilated``, and a deconvolution as that convolution of the
stride-dilated input). Every form computes the same function up to float rounding.
"""

from __future__ import annotations

from enum import StrEnum

import jax
import numpy as np

KERNELS = ("auto", "xla")

WINOGRAD_CHANNEL_PAIRS = 64 * 64  # in * out at least this: a 3x3 layer goes by Winograd
F4_PIXELS = 64 * 64  # output pixels per image from which F(4x4, 3x3); F(2x2, 3x3) below
FEW_INPUTS = 32  # k*k*in at most this (a first layer on RGB): one matrix product on accelerators


class Form(StrEnum):
    """A way of computing a convolution (``conv.convolve``) or a deconvolution
    (``deconv.deconvolve``)."""

    NATIVE = "native"  # lax.conv_general_dilated
    POINTWISE = "pointwise"  # a 1x1 convolution as a matrix product over the channels
    IM2COL = "im2col"  # one matrix product of the k*k shifted copies with the kernel
    BANDED = "banded"  # XLA's forward and input gradient, the kernel gradient over row bands
    WINOGRAD_F4 = "winograd_f4"  # Winograd's F(4x4, 3x3), forward and both gradients
    WINOGRAD_F2 = "winograd_f2"  # Winograd's F(2x2, 3x3)
    PHASES = "phases"  # a deconvolution as stride**2 stride-1 convolutions, interleaved
    DILATED = "dilated"  # a deconvolution as XLA's convolution of the stride-dilated input


def backend() -> str:
    """The backend the next computation is traced for ("cpu", "gpu", "tpu")."""
    return jax.default_backend()


def checked(policy: str) -> str:
    """``policy`` if it is one of ``KERNELS``, else a ValueError naming it and the choices."""
    if policy not in KERNELS:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS)}; got {policy!r}")
    return policy


def conv_form(
    policy: str, backend: str, x_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
    stride: int = 1, pad: int = 0, groups: int = 1, dilation: int = 1, dtype=np.float32,
) -> Form:  # fmt: skip
    """The form of a convolution of an NHWC ``x_shape`` input with a (k, k, in/groups, out)
    kernel under ``policy`` on ``backend``. ``dtype`` is that of both operands (None where they
    differ). Under "auto": on the CPU a 1x1 layer is a matrix product over the channels, a
    stride-1 layer with a kernel of 5 or more one matrix product of its shifted copies, a wide
    float32 3x3 layer Winograd's and any other stride-1 layer XLA's with a banded kernel
    gradient; on accelerators a stride-1 layer with few inputs per output or shifted copies
    no larger than its kernel is one matrix product; all else is XLA's."""
    k = kernel_shape[0]
    if checked(policy) == "xla":
        return Form.NATIVE
    cpu = backend == "cpu"
    if k == 1 and groups == 1 and cpu:
        return Form.POINTWISE
    if dilation > 1 or stride > 1 or groups > 1 or k == 1:
        return Form.NATIVE
    if not cpu:
        return Form.IM2COL if _im2col_on_accelerator(x_shape, kernel_shape, pad) else Form.NATIVE
    if k >= 5:
        return Form.IM2COL
    return _winograd(x_shape, kernel_shape, pad, dtype) or Form.BANDED


def deconv_form(policy: str, backend: str) -> Form:
    """The form of a deconvolution under ``policy``: its true FLOPs as phase convolutions
    (each then takes its own ``conv_form``) under "auto", on every backend."""
    del backend  # the phases cost s**2 fewer multiplications everywhere
    return Form.DILATED if checked(policy) == "xla" else Form.PHASES


def _winograd(x_shape, kernel_shape, pad: int, dtype) -> Form | None:
    """F4 or F2 for a float32 stride-1 3x3 kernel with enough channel pairs, None otherwise
    (and for an empty output, left to the library's error). Output pixels are counted per
    image, so a vmapped and a batched call take the same form."""
    k, cin, cout = kernel_shape[0], kernel_shape[2], kernel_shape[3]
    exact = dtype is not None and np.dtype(dtype) == np.float32  # narrower: transform rounding
    pixels = max(0, x_shape[1] + 2 * pad - 2) * max(0, x_shape[2] + 2 * pad - 2)
    if k != 3 or pad > 2 or cin * cout < WINOGRAD_CHANNEL_PAIRS or not exact:
        return None
    if not pixels or not x_shape[0]:
        return None
    return Form.WINOGRAD_F4 if pixels >= F4_PIXELS else Form.WINOGRAD_F2


def _im2col_on_accelerator(x_shape, kernel_shape, pad: int) -> bool:
    """Where each output takes few inputs (k*k*in <= FEW_INPUTS, conv1_1 on RGB), or one
    image's shifted copies are no larger than the kernel (output pixels per image at most
    ``out``: fc6)."""
    k, cin, cout = kernel_shape[0], kernel_shape[2], kernel_shape[3]
    rows, cols = x_shape[1] + 2 * pad - k + 1, x_shape[2] + 2 * pad - k + 1
    return k * k * cin <= FEW_INPUTS or max(rows, 0) * max(cols, 0) <= cout
