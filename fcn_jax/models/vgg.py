"""VGG16, convolutionalized: 13 3x3 convs in 5 blocks, fc6 as a 7x7 conv, fc7 as a 1x1 conv."""

from __future__ import annotations

from fcn_jax.models.layers import Conv, Dropout, MaxPool, ReLU

BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def vgg16(width: float = 1.0, first_pad: int = 100, conv_pad: int = 1, fc6_pad: int = 0):
    """The VGG16 trunk up to drop7, as a tuple of layers named after the Caffe layers.

    ``width`` scales every channel count (at least 1 channel); ``first_pad`` is conv1_1's
    padding (100 in the reference FCNs); ``conv_pad`` that of the other 3x3 convs; ``fc6_pad``
    that of fc6.
    """
    layers = []
    for block, (convs, features) in enumerate(BLOCKS, start=1):
        for i in range(1, convs + 1):
            pad = first_pad if block == i == 1 else conv_pad
            name = f"{block}_{i}"
            layers += [
                Conv(channels(features, width), 3, pad=pad, name=f"conv{name}"),
                ReLU(name=f"relu{name}"),
            ]
        layers.append(MaxPool(2, 2, name=f"pool{block}"))
    fc = channels(4096, width)
    return (
        *layers,
        Conv(fc, 7, pad=fc6_pad, name="fc6"),
        ReLU(name="relu6"),
        Dropout(0.5, name="drop6"),
        Conv(fc, 1, name="fc7"),
        ReLU(name="relu7"),
        Dropout(0.5, name="drop7"),
    )


def channels(n: int, width: float) -> int:
    """Channel count ``n`` scaled by ``width``, at least 1."""
    return max(1, round(n * width))
