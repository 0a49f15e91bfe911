"""GoogLeNet (Caffe's ``bvlc_googlenet``) as an FCN trunk: 7x7/2 stem, LRN, ceil-mode pools, nine
inception modules of parallel 1x1, 3x3, 5x5 and pooling branches.

As the paper's FCN-GoogLeNet: only the final classifier is kept (the two auxiliary classifiers
are dropped) and the final 7x7 average pooling is discarded, so ``score_fr`` scores
inception_5b's output directly. Caffe's layer names contain '/', which become '_' here
(``inception_3a/1x1`` -> ``inception_3a_1x1``); the importer maps them.
"""

from __future__ import annotations

from typing import NamedTuple

from flax import linen as nn

from fcn_jax.models.layers import LRN, AvgPool, Conv, Dropout, MaxPool, ReLU
from fcn_jax.models.vgg import channels

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) of each inception module
INCEPTIONS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}  # fmt: skip


class Branches(NamedTuple):
    """Parallel chains of layers on one input, concatenated on channels as layer ``name``."""

    name: str
    branches: tuple[tuple[nn.Module, ...], ...]


def inception(block: str, width: float) -> Branches:
    """One inception module, its layers named as in bvlc_googlenet."""
    c1, r3, c3, r5, c5, pp = (channels(n, width) for n in INCEPTIONS[block])
    p = f"inception_{block}_"

    def conv(n, k, name):
        return (Conv(n, k, pad=k // 2, name=p + name), ReLU(name=f"{p}relu_{name}"))

    return Branches(
        f"{p}output",
        (
            conv(c1, 1, "1x1"),
            (*conv(r3, 1, "3x3_reduce"), *conv(c3, 3, "3x3")),
            (*conv(r5, 1, "5x5_reduce"), *conv(c5, 5, "5x5")),
            (MaxPool(3, 1, pad=1, name=f"{p}pool"), *conv(pp, 1, "pool_proj")),
        ),
    )


def googlenet(width: float = 1.0, first_pad: int = 3, classifier: bool = False):
    """The GoogLeNet trunk up to inception_5b's output and its dropout; with ``classifier``,
    bvlc_googlenet's own 7x7 average pooling before that dropout."""

    def pool(name):
        return MaxPool(3, 2, name=name)

    return (
        Conv(channels(64, width), 7, stride=2, pad=first_pad, name="conv1_7x7_s2"),
        ReLU(name="conv1_relu_7x7"),
        pool("pool1_3x3_s2"),
        LRN(name="pool1_norm1"),
        Conv(channels(64, width), 1, name="conv2_3x3_reduce"),
        ReLU(name="conv2_relu_3x3_reduce"),
        Conv(channels(192, width), 3, pad=1, name="conv2_3x3"),
        ReLU(name="conv2_relu_3x3"),
        LRN(name="conv2_norm2"),
        pool("pool2_3x3_s2"),
        inception("3a", width),
        inception("3b", width),
        pool("pool3_3x3_s2"),
        *(inception(b, width) for b in ("4a", "4b", "4c", "4d", "4e")),
        pool("pool4_3x3_s2"),
        inception("5a", width),
        inception("5b", width),
        *((AvgPool(7, 1, name="pool5_7x7_s1"),) if classifier else ()),
        Dropout(0.4, name="pool5_drop_7x7_s1"),
    )
