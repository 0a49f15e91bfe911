"""AlexNet as in CaffeNet (pool before norm, grouped conv2/4/5), convolutionalized."""

from __future__ import annotations

from fcn_jax.models.layers import LRN, Conv, Dropout, MaxPool, ReLU
from fcn_jax.models.vgg import channels


def alexnet(width: float = 1.0, first_pad: int = 100, pool_pad: int = 0, fc6_pad: int = 0):
    """The AlexNet trunk up to drop7: conv1 11x11/4, LRN, grouped convs, fc6 as a 6x6 conv."""

    def c(n):
        return channels(n, width)

    def grouped(n):  # grouped convs need an even channel count on both sides
        return 2 * max(1, round(n * width / 2))

    return (
        Conv(grouped(96), 11, stride=4, pad=first_pad, name="conv1"),
        ReLU(name="relu1"),
        MaxPool(3, 2, pad=pool_pad, name="pool1"),
        LRN(name="norm1"),
        Conv(grouped(256), 5, pad=2, groups=2, name="conv2"),
        ReLU(name="relu2"),
        MaxPool(3, 2, pad=pool_pad, name="pool2"),
        LRN(name="norm2"),
        Conv(grouped(384), 3, pad=1, name="conv3"),
        ReLU(name="relu3"),
        Conv(grouped(384), 3, pad=1, groups=2, name="conv4"),
        ReLU(name="relu4"),
        Conv(grouped(256), 3, pad=1, groups=2, name="conv5"),
        ReLU(name="relu5"),
        MaxPool(3, 2, pad=pool_pad, name="pool5"),
        Conv(c(4096), 6, pad=fc6_pad, name="fc6"),
        ReLU(name="relu6"),
        Dropout(0.5, name="drop6"),
        Conv(c(4096), 1, name="fc7"),
        ReLU(name="relu7"),
        Dropout(0.5, name="drop7"),
    )
