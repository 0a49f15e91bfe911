"""Dilated ResNet FCNs (torchvision's ``fcn_resnet50/101``): a ResNet whose last two stages
trade stride for dilation (output stride 8), an FCN head (3x3 conv to C/4, batch norm, ReLU,
dropout 0.1, 1x1 scores), an optional auxiliary head on stage 4 (torchvision's layer3) and a
bilinear resize to the input size.

Layer names are those of the MSRA Caffe ResNets (``conv1``, ``bn_conv1``, ``res2a_branch2a``,
``bn2a_branch2a``, ``res2a_branch1``, ..., ResNet-101's ``res4b1`` ... ``res4b22``); the head's
are ``head_conv``, ``head_bn``, ``score_fr`` and ``aux_conv``, ``aux_bn``, ``aux_score``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
from flax import linen as nn

from fcn_jax.geometry import Trace
from fcn_jax.kernels.choice import checked
from fcn_jax.models.layers import (
    BatchNorm,
    Conv,
    Dropout,
    MaxPool,
    ReLU,
    Resize,
    Sum,
    call,
    resize_op,
)  # fmt: skip
from fcn_jax.models.vgg import channels

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


class Residual(NamedTuple):
    """``relu(main(x) + shortcut(x))``; an empty shortcut is the identity."""

    name: str
    main: tuple[nn.Module, ...]
    shortcut: tuple[nn.Module, ...]


def block_names(stage: int, count: int) -> list[str]:
    """MSRA names of a stage's blocks: res2a, res2b, ...; res4a, res4b1 ... res4b22 when long."""
    if count > 6:
        return [f"res{stage}a"] + [f"res{stage}b{i}" for i in range(1, count)]
    return [f"res{stage}{chr(ord('a') + i)}" for i in range(count)]


def bottleneck(name: str, planes: int, stride: int, dilation: int, project: bool, bn) -> Residual:
    """torchvision's Bottleneck (stride on the 3x3 conv, ResNet v1.5)."""
    tag = name.removeprefix("res")

    def conv_bn(n, k, suffix, **options):
        return (Conv(n, k, use_bias=False, name=f"{name}_branch{suffix}", **options),
                bn(name=f"bn{tag}_branch{suffix}"))  # fmt: skip

    main = (
        *conv_bn(planes, 1, "2a"),
        ReLU(name=f"{name}_branch2a_relu"),
        *conv_bn(planes, 3, "2b", stride=stride, pad=dilation, dilation=dilation),
        ReLU(name=f"{name}_branch2b_relu"),
        *conv_bn(4 * planes, 1, "2c"),
    )
    shortcut = conv_bn(4 * planes, 1, "1", stride=stride) if project else ()
    return Residual(name, main, shortcut)


def resnet(depth: int, width: float = 1.0, train_bn: bool = False) -> tuple:
    """The dilated ResNet trunk: stem, then stages 2-5 (torchvision's layer1-4) with stages 4
    and 5 dilated by 2 and 4 instead of strided. Returns layers and Residual blocks."""

    def bn(name):
        return BatchNorm(trainable=train_bn, name=name)

    items = [
        Conv(channels(64, width), 7, stride=2, pad=3, use_bias=False, name="conv1"),
        bn("bn_conv1"),
        ReLU(name="conv1_relu"),
        MaxPool(3, 2, pad=1, ceil=False, name="pool1"),
    ]
    dilation = 1
    for stage, (count, base) in enumerate(zip(DEPTHS[depth], (64, 128, 256, 512), strict=True)):
        stride, previous = (1 if stage == 0 else 2), dilation
        if stage >= 2:  # replace stride with dilation
            dilation, stride = dilation * 2, 1
        planes = channels(base, width)
        for i, name in enumerate(block_names(stage + 2, count)):
            first = i == 0
            items.append(bottleneck(name, planes, stride if first else 1,
                                    previous if first else dilation, first, bn))  # fmt: skip
    return tuple(items)


def stage_output(depth: int, stage: int) -> str:
    """The name of a stage's last block (its output), e.g. res4f for ResNet-50's stage 4."""
    return block_names(stage, DEPTHS[depth][stage - 2])[-1]


class DilatedFCN(nn.Module):
    """Trunk, FCN head and bilinear resize: ``__call__(x, train=False)`` -> (N, H, W, classes)
    logits; with ``aux`` the auxiliary head's logits too, as ``{'out': ..., 'aux': ...}``
    when ``with_aux``. ``record`` receives ``(name, layer, trace, shape)`` as in FCN; every
    convolution runs under the ``kernels`` policy."""

    num_classes: int
    trunk: Callable[[], Sequence]
    head_channels: int
    aux_tap: str = ""
    aux_channels: int = 0
    train_bn: bool = False
    kernels: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record=None, with_aux: bool = False):
        checked(self.kernels)  # before a layer's error could name the image size
        if x.ndim != 4:
            raise ValueError(f"expected NHWC images, got an array of shape {x.shape}")

        def report(name, layer, trace, shape):
            if record is not None:
                record(name, layer, trace, shape)

        def run(layer, h, trace):
            try:
                h = call(layer, h, train, self.kernels)
            except ValueError as err:
                size = f"{x.shape[1]}x{x.shape[2]}"
                raise ValueError(
                    f"input of {size} pixels is too small for this net: {err}"
                ) from err
            if layer.op is not None:
                trace = trace.through(layer.op, h.shape[1:3], layer.name)
            report(layer.name, layer, trace, h.shape)
            return h, trace

        def chain(layers, h, trace):
            for layer in layers:
                h, trace = run(layer, h, trace)
            return h, trace

        def head(h, trace, prefix, score, features):
            bn = BatchNorm(trainable=self.train_bn, name=f"{prefix}_bn")
            h, trace = chain((Conv(features, 3, pad=1, use_bias=False, name=f"{prefix}_conv"),
                              bn, ReLU(name=f"{prefix}_relu"), Dropout(0.1, name=f"{prefix}_drop"),
                              Conv(self.num_classes, 1, name=score)), h, trace)  # fmt: skip
            resize = Resize(name=f"{score}_up")
            up = resize(h, x.shape[1:3])
            trace = trace.through(resize_op(h.shape[1], x.shape[1]), x.shape[1:3], resize.name)
            report(resize.name, resize, trace, up.shape)
            return up

        h, trace = x, Trace.input(*x.shape[1:3])
        aux_in = None
        for item in self.trunk():
            if isinstance(item, Residual):
                main, main_trace = chain(item.main, h, trace)
                short, short_trace = chain(item.shortcut, h, trace)
                fuse = Sum(name=item.name)
                h, trace = fuse(main, short), main_trace.merged(short_trace, item.name)
                report(item.name, fuse, trace, h.shape)
                h, trace = run(ReLU(name=f"{item.name}_relu"), h, trace)
            else:
                h, trace = run(item, h, trace)
            if item.name == self.aux_tap:
                aux_in = h, trace
        out = head(h, trace, "head", "score_fr", self.head_channels)
        if not self.aux_tap or not (with_aux or self.is_initializing()):
            return out
        aux = head(*aux_in, "aux", "aux_score", self.aux_channels)
        return {"out": out, "aux": aux} if with_aux else out
