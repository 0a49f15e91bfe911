"""Receptive field and stride of well-known nets read off their jaxprs, checked by autodiff.

    python experiments/jaxpr_geometry.py [--size 224]

Each net is written here in Flax Linen or plain lax, independent of our layers (our VGG16 is
built by ``fcn_jax.models.build``, at reduced width: width does not change geometry), analysed
with ``fcn_jax.geometry.analyze`` and checked with the autodiff support measurement. Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax

from fcn_jax.geometry import analyze
from fcn_jax.geometry.jaxpr_report import analysis_table, verify_analysis
from fcn_jax.models import build


class Bottleneck(nn.Module):  # torchvision's ResNet v1.5: the stride on the 3x3 conv
    planes: int
    stride: int

    @nn.compact
    def __call__(self, x):
        y = nn.relu(nn.Conv(self.planes, (1, 1), use_bias=False)(x))
        y = nn.relu(nn.Conv(self.planes, (3, 3), self.stride, padding=1, use_bias=False)(y))
        y = nn.Conv(4 * self.planes, (1, 1), use_bias=False)(y)
        if self.stride != 1 or x.shape[-1] != 4 * self.planes:
            x = nn.Conv(4 * self.planes, (1, 1), self.stride, use_bias=False)(x)
        return nn.relu(y + x)


class ResNet50(nn.Module):  # torchvision's layout up to layer4, 1/16 of its width
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (7, 7), 2, padding=3, use_bias=False)(x))
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for stage, blocks in enumerate((3, 4, 6, 3)):
            for b in range(blocks):
                x = Bottleneck(2**stage, 2 if stage and b == 0 else 1)(x)
        return x


def unet(x):
    """A 4-level U-Net of 3x3 'same' convs, 2x2 max pools and 2x2/2 transposed convs."""

    def conv(h, k=3, pad=1, lhs=1):
        kernel = jnp.ones((k, k, h.shape[-1], 4)) / (k * k * h.shape[-1])
        return jax.nn.relu(lax.conv_general_dilated(
            h, kernel, (1, 1), ((pad, pad), (pad, pad)), (lhs, lhs),
            dimension_numbers=("NHWC", "HWIO", "NHWC")))  # fmt: skip

    skips = []
    for _ in range(4):
        x = conv(conv(x))
        skips.append(x)
        x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    x = conv(conv(x))
    for skip in reversed(skips):
        x = jnp.concatenate([conv(x, 2, 1, 2), skip], axis=-1)
        x = conv(conv(x))
    return x


def nets(size: int):
    x = jnp.zeros((1, size, size, 3))
    vgg = build("vgg16", 2, width=1 / 16, kernels="xla")
    vgg_params = vgg.init(jax.random.key(0), x)
    resnet = ResNet50()
    resnet_params = resnet.init(jax.random.key(0), x)
    yield "VGG16 (fc8)", lambda x: vgg.apply(vgg_params, x), x
    yield "ResNet-50 (layer4)", lambda x: resnet.apply(resnet_params, x), x
    yield "U-Net (4 levels)", unet, x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="square input size (224)")
    size = parser.parse_args().size
    print(f"Input {size}x{size}.\n")
    print("| net | receptive field | stride | paths meet (misaligned) | autodiff check |")
    print("|---|---|---|---|---|")
    for name, fn, x in nets(size):
        analysis = analyze(fn, x)
        table = analysis_table(analysis)
        start = time.perf_counter()
        checks = verify_analysis(analysis, [None])
        seconds = time.perf_counter() - start
        bad = sum(not c.same_extent for c in checks)
        met = analysis.meetings
        print(f"| {name} | {table['receptive_field']} | {table['max_stride']} | {len(met)} "
              f"({sum(not m.aligned for m in met)}) | {len(checks)} units, {bad} disagree "
              f"({seconds:.1f} s) |")  # fmt: skip


if __name__ == "__main__":
    main()
