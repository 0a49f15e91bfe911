"""3x3 convolutions: Winograd's F(2x2, 3x3) and F(4x4, 3x3) (:mod:`fcn_jax.kernels.winograd`)
against XLA's library convolution and our banded kernel gradient (the path before them), forward,
input gradient and kernel gradient, for every distinct 3x3 layer shape of FCN-8s at 500x500
in ``caffe`` alignment (read off the net). The last column compares the form
:func:`fcn_jax.kernels.conv.conv2d` uses for the layer with the faster of the two earlier paths.

    python -m benchmarks.investigations.winograd      # a markdown table of milliseconds, and JSON
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
from benchmarks.timing import alternating_samples
from fcn_jax.kernels import choice, conv, winograd
from fcn_jax.models import build

FORMS = {
    "library": xla_conv,
    "banded": lambda x, w, pad: conv._banded_kernel_gradient(x, w, pad),
    "F2": lambda x, w, pad: winograd.conv3x3(x, w, pad, winograd.F2),
    "F4": lambda x, w, pad: winograd.conv3x3(x, w, pad, winograd.F4),
}


def three_by_three_layers(size: int) -> dict:
    """(input map, in, out, pad) -> the first layer name with it, for FCN-8s's 3x3 layers."""
    found = {}
    for module, x, _ in conv_shapes(build("fcn8s", 21, align="caffe"), (1, size, size, 3)):
        if module.kernel == 3 and module.stride == 1 and x[-1] > 3:
            found.setdefault((x[1], x[-1], module.features, module.pad), module.name)
    return found


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/investigations/winograd.json")
    args = parser.parse_args(argv)
    print(f"3x3 convolutions of FCN-8s at {args.size} on {jax.devices()[0].device_kind}, ms "
          f"(medians of {args.repeats}); Winograd is used from "
          f"{choice.WINOGRAD_CHANNEL_PAIRS} channel pairs, F4 from {choice.F4_PIXELS} output "
          "pixels per image, F2 below")  # fmt: skip
    print("| layer | map | in -> out | part | library | banded | F2 | F4 | used: vs the faster |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for (side, cin, cout, pad), name in three_by_three_layers(args.size).items():
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((1, side, side, cin)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((3, 3, cin, cout)) * 0.01, jnp.float32)
        contenders = {f"{form} {part}": f for form, fn in FORMS.items()
                      for part, f in jax_parts(fn, x, w, pad=pad).items()}  # fmt: skip
        samples = alternating_samples(contenders, args.repeats, settle=0.02)
        form = choice.conv_form("auto", "cpu", x.shape, w.shape, pad=pad, dtype=x.dtype)
        used = "F4" if form is choice.Form.WINOGRAD_F4 else "F2"
        for part in ("forward", "input_grad", "kernel_grad"):
            ms = {form: statistics.median(samples[f"{form} {part}"]) * 1e3 for form in FORMS}
            other = min(ms["library"], ms["banded"])
            rows.append({"layer": name, "map": side, "in": cin, "out": cout, "part": part,
                         "used": used, **{f"{k}_ms": v for k, v in ms.items()}})  # fmt: skip
            cells = (name, side, f"{cin} -> {cout}", part, *(f"{ms[f]:.1f}" for f in FORMS),
                     f"{used}: {other / ms[used]:.2f}x")  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
