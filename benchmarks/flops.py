"""FLOPs of an FCN counted from its layers, and XLA's own count to check it against.

A convolution with a k x k kernel, C_in / groups input and C_out output channels costs
2 k^2 (C_in / groups) C_out multiply-adds' worth of FLOPs per output cell; a deconvolution the
same per *input* cell. A training step is the forward pass, the gradient with respect to each
layer's input (all but the first layer) and to each trained kernel (not the frozen bilinear
deconvolutions): about three forward passes.
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
from flax import linen as nn

from fcn_jax.models.layers import Conv, Deconv


def conv_shapes(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[nn.Module, tuple, tuple]]:
    """(layer, input shape, output shape) of every (de)convolution of ``model`` on inputs of
    ``shape``, in order (shapes only: nothing is computed). The whole canvas's, as a direct
    convolution computes it: the net runs under the plain "xla" kernels, for the "auto" ones
    frame the layers a zero margin keeps constant (``fcn_jax/models/margin.py``)."""
    model = model.clone(kernels="xla") if hasattr(model, "kernels") else model
    found: list[tuple[nn.Module, tuple, tuple]] = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and isinstance(context.module, Conv | Deconv):
            found.append((context.module, args[0].shape, out.shape))
        return out

    x = jax.ShapeDtypeStruct(shape, np.float32)
    with nn.intercept_methods(record):
        jax.eval_shape(partial(model.init_with_output, train=False), jax.random.key(0), x)
    return found


def layer_costs(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[str, str, int]]:
    """(layer name, 'conv' | 'deconv', forward FLOPs) of every (de)convolution, in order."""
    found: list[tuple[str, str, int]] = []
    for module, x, out in conv_shapes(model, shape):
        k2 = module.kernel**2
        if isinstance(module, Conv):
            cells, per_cell = np.prod(out[:3]), k2 * x[-1] // module.groups
            found.append((module.name, "conv", int(2 * cells * per_cell * out[-1])))
        else:
            found.append((module.name, "deconv", int(2 * np.prod(x[:3]) * k2 * x[-1] * out[-1])))
    return found


def forward_flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    return sum(f for _, _, f in layer_costs(model, shape))


def train_flops(model: nn.Module, shape: tuple[int, ...], learnable_upsampling: bool) -> int:
    """Forward, input gradients (not of the first layer) and kernel gradients (not of frozen
    deconvolutions)."""
    costs = layer_costs(model, shape)
    input_grads = sum(f for _, _, f in costs[1:])
    kernel_grads = sum(f for _, kind, f in costs if kind == "conv" or learnable_upsampling)
    return sum(f for _, _, f in costs) + input_grads + kernel_grads


def xla_flops(compiled) -> float:
    """XLA's FLOP count of a compiled function (``jit(f).lower(...).compile()``)."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))
