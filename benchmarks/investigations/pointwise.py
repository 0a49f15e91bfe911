"""1x1 convolutions on the CPU: XLA's convolution against ours (:mod:`fcn_jax.kernels.conv`,
a matrix product over the channels), forward, input gradient and kernel gradient, for every
distinct 1x1 layer shape of FCN-8s at 500x500 and FCN-ResNet50 at 384x384 (read off the nets).

    python -m benchmarks.investigations.pointwise     # a markdown table of milliseconds, and JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.flops import conv_shapes
from benchmarks.investigations.conv_gradients import jax_parts, xla_conv
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import alternating_samples, paired_ratios
from fcn_jax.kernels.conv import conv2d
from fcn_jax.models import build

NETS = (("fcn8s", 500), ("fcn-resnet50", 384))


def pointwise_layers(arch: str, size: int) -> dict:
    """(input map, in, out, stride) -> the first layer name with it, for the net's 1x1 layers."""
    found = {}
    model = build(arch, 21, **({"align": "caffe"} if arch == "fcn8s" else {}))
    for module, x, _ in conv_shapes(model, (1, size, size, 3)):
        if module.kernel == 1 and module.groups == 1:
            found.setdefault((x[1], x[-1], module.features, module.stride), module.name)
    return found


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/investigations/pointwise.json")
    args = parser.parse_args(argv)
    print(f"1x1 convolutions on {jax.devices()[0].device_kind}, ms (median of paired rounds)")
    print("| net | layer | map | in -> out | stride | part | XLA | ours | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for arch, size in NETS:
        for (side, cin, cout, stride), name in pointwise_layers(arch, size).items():
            rng = np.random.default_rng(0)
            x = jnp.asarray(rng.standard_normal((1, side, side, cin)), jnp.float32)
            w = jnp.asarray(rng.standard_normal((1, 1, cin, cout)) * 0.01, jnp.float32)
            library = jax_parts(xla_conv, x, w, stride=stride)
            ours = jax_parts(conv2d, x, w, stride=stride)
            contenders = {f"{who} {p}": f for who, fs in (("xla", library), ("ours", ours))
                          for p, f in fs.items()}  # fmt: skip
            samples = alternating_samples(contenders, args.repeats, settle=0.02)
            for part in library:
                xla, mine = samples[f"xla {part}"], samples[f"ours {part}"]
                ratio = paired_ratios(xla, mine)["median"]
                row = {"net": arch, "layer": name, "map": side, "in": cin, "out": cout,
                       "stride": stride, "part": part, "xla_ms": statistics.median(xla) * 1e3,
                       "ours_ms": statistics.median(mine) * 1e3, "speedup": ratio}  # fmt: skip
                rows.append(row)
                times = f"{row['xla_ms']:.2f} | {row['ours_ms']:.2f} | {ratio:.2f}x"
                cells = (arch, name, side, f"{cin} -> {cout}", stride, part, times)
                print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
