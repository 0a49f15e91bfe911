"""The function an export traces: the plain-XLA inference of a net on NHWC float32 images,
optionally with the input normalisation inside (raw 0..255 RGB in), and the layer forms a
graph converter maps onto standard ONNX operators."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from fcn_jax.data.preprocessing import Normalisation
from fcn_jax.models.layers import BatchNorm, MaxPool, Resize


def forward(model, variables: dict, inside: Normalisation | None = None) -> Callable:
    """``x -> model.apply(variables, x)`` with XLA's own convolutions; with ``inside``, ``x``
    is raw 0..255 RGB and the normalisation runs first."""
    net = model.clone(kernels="xla")

    def run(x):
        if inside is not None:
            x = (x - np.float32(inside.mean)) / np.float32(inside.std)
            x = x[..., ::-1] if inside.order == "bgr" else x
        return net.apply(variables, x)

    return run


def standard_forms(fn: Callable) -> Callable:
    """``fn`` with two layers written as converters map them to standard ONNX operators, the
    values unchanged: batch norm (running statistics) as one multiply and add by constants,
    max pooling as a pad with -inf then ``flax.linen.max_pool`` (ONNX ``MaxPool``), and the
    bilinear resize as two products with constant interpolation matrices. The layers' own
    forms convert to graphs ONNX Runtime rejects or jax2onnx refuses: jax2onnx 0.17.1 writes
    the tiled max's boolean ``one_hot`` as an ``OneHot`` without a boolean kernel, a
    ``reduce_window`` max as a 4-d ``MaxPool``, Flax's batch norm with its axes mixed up, and
    needs a constant batch for ``jax.image.resize``."""

    def run(x):
        with nn.intercept_methods(_standard_layer):
            return fn(x)

    return run


def _standard_layer(next_fun, args, kwargs, context):
    module = context.module
    if context.method_name != "__call__":  # an export runs the net as at test time
        return next_fun(*args, **kwargs)
    if isinstance(module, BatchNorm):
        return _folded_batch_norm(module, args[0])
    if type(module) is MaxPool:
        return _padded_max_pool(module, args[0])
    if isinstance(module, Resize):
        rows, cols = (interpolation(n, m) for n, m in zip(args[0].shape[1:3], args[1], strict=True))
        return jnp.einsum("ph,nhwc,qw->npqc", rows, args[0], cols)
    return next_fun(*args, **kwargs)


def _folded_batch_norm(module: BatchNorm, x: jax.Array) -> jax.Array:
    mean, var = (np.asarray(module.get_variable("batch_stats", k)) for k in ("mean", "var"))
    scale, bias = (np.asarray(module.get_variable("params", k)) for k in ("scale", "bias"))
    factor = scale / np.sqrt(var + module.epsilon)
    return x * factor.astype(np.float32) + (bias - mean * factor).astype(np.float32)


def _padded_max_pool(module: MaxPool, x: jax.Array) -> jax.Array:
    k, s, pads = module.kernel, module.stride, [(0, 0)]
    for n in x.shape[1:3]:
        n_out = module.op.out_size(n)
        if n_out < 1:
            raise ValueError(f"{module.name}: input size {n} is smaller than the window")
        pads.append((module.pad, (n_out - 1) * s + k - n - module.pad))
    x = jnp.pad(x, (*pads, (0, 0)), constant_values=-jnp.inf)
    return nn.max_pool(x, window_shape=(k, k), strides=(s, s), padding="VALID")


def interpolation(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of linear interpolation with half-pixel centres, the samples
    beyond the edge pixels' centres clamped to them (``jax.image.resize``'s "bilinear" without
    antialiasing, torch's ``align_corners=False``)."""
    at = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(at).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    weights = np.zeros((n_out, n_in), np.float32)
    np.add.at(weights, (np.arange(n_out), low), 1 - (at - low))
    np.add.at(weights, (np.arange(n_out), high), at - low)
    return weights
