"""Net surgery: convolutionalize fully connected layers; bilinear upsampling kernels."""

from __future__ import annotations

import numpy as np


def bilinear_kernel(size: int, in_channels: int, out_channels: int) -> np.ndarray:
    """(size, size, in, out) kernel that upsamples channel c to channel c bilinearly.

    The factor is ``ceil(size / 2)``; off-diagonal channel pairs are zero, as in the reference
    ``interp`` surgery. Used as a deconvolution kernel of stride ``factor``.
    """
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(size) - centre) / factor
    kernel = np.zeros((size, size, in_channels, out_channels), np.float32)
    channels = np.arange(min(in_channels, out_channels))
    kernel[:, :, channels, channels] = np.outer(taps, taps)[:, :, None]
    return kernel


def convolutionalize(weight: np.ndarray, in_shape: tuple[int, int, int]) -> np.ndarray:
    """Turn a fully connected weight into a conv kernel that computes it at every position.

    ``weight`` is (out, C*H*W) with inputs flattened in (C, H, W) order, as in Caffe and
    torch; ``in_shape`` is (C, H, W). Returns the (H, W, C, out) kernel of an HxW convolution
    whose single output cell on a CxHxW input equals ``weight @ input.ravel()``.
    """
    weight = np.asarray(weight)
    channels, height, width = in_shape
    if weight.ndim != 2 or weight.shape[1] != channels * height * width:
        raise ValueError(
            f"fully connected weight of shape {weight.shape} does not take a flattened "
            f"{channels}x{height}x{width} input ({channels * height * width} values)"
        )
    return weight.reshape(-1, channels, height, width).transpose(2, 3, 1, 0)
