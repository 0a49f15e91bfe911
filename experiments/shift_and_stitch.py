"""Shift-and-stitch is filter rarefaction (paper section 3.2).

    python -m experiments.shift_and_stitch [--size 256] [--full] [--results DIR]

A small net without padding (3x3 convs with ReLU, max pools of stride f, a 1x1 score layer)
has output stride F, the product of its pool strides. Two ways to get its output at every
input pixel:

* *shift-and-stitch*: run the net on the input shifted by (a, b) for all F x F shifts
  0 <= a, b < F and interlace: dense[F i + a, F j + b] = net(x[a:, b:])[i, j];
* *filter rarefaction*: the same weights, every pool of stride f given stride 1 and each later
  layer's filter (and pooling window) dilated by the product of the strides before it,
  ``lax.conv_general_dilated(rhs_dilation=...)`` / ``lax.reduce_window(window_dilation=...)``
  (the "a trous" algorithm).

The two agree wherever both are defined, to float32 round-off. Their cost is measured: wall-clock
of the compiled functions (median of 5) and XLA's FLOP count of each.
Writes ``shift_and_stitch.md`` into ``--results``.
"""

from __future__ import annotations

import argparse
import time
from itertools import product

import jax
import jax.numpy as jnp
import numpy as np

from experiments.publish import publish

NHWC = ("NHWC", "HWIO", "NHWC")
# (kind, kernel or stride, output channels): the net of the table; F = 4
SPEC = (("conv", 3, 32), ("pool", 2, None), ("conv", 3, 64), ("pool", 2, None),
        ("conv", 3, 64), ("conv", 1, 8))  # fmt: skip


def init(spec, channels: int, key: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
    """He-initialised (kernel, bias) of every conv of ``spec``."""
    params = []
    for kind, k, out in spec:
        if kind == "conv":
            key, sub, bias = jax.random.split(key, 3)
            scale = np.sqrt(2 / (k * k * channels))
            params.append((scale * jax.random.normal(sub, (k, k, channels, out)),
                           0.1 * jax.random.normal(bias, (out,))))  # fmt: skip
            channels = out
    return params


def output_stride(spec) -> int:
    """F: the product of the pool strides."""
    return int(np.prod([f for kind, f, _ in spec if kind == "pool"]))


def run(params, spec, x: jax.Array, rarefied: bool = False) -> jax.Array:
    """The net on NHWC ``x``; with ``rarefied``, pools at stride 1 and later layers dilated."""
    params, dilation = list(params), 1
    last = max(i for i, (kind, _, _) in enumerate(spec) if kind == "conv")
    for i, (kind, k, _) in enumerate(spec):
        if kind == "conv":
            w, b = params.pop(0)
            d = dilation if rarefied else 1
            x = b + jax.lax.conv_general_dilated(
                x, w, (1, 1), "VALID", rhs_dilation=(d, d), dimension_numbers=NHWC
            )
            x = x if i == last else jax.nn.relu(x)
        else:
            stride, d = (1, dilation) if rarefied else (k, 1)
            x = jax.lax.reduce_window(
                x, -jnp.inf, jax.lax.max, (1, k, k, 1), (1, stride, stride, 1), "VALID",
                window_dilation=(1, d, d, 1),
            )  # fmt: skip
            dilation *= k
    return x


def shift_and_stitch(params, spec, x: jax.Array) -> jax.Array:
    """Dense output by running the net on the F x F shifted inputs and interlacing; as many
    rows and columns as every shift provides."""
    f = output_stride(spec)
    outs = [run(params, spec, x[:, a:, b:]) for a, b in product(range(f), repeat=2)]
    rows, cols = min(o.shape[1] for o in outs), min(o.shape[2] for o in outs)
    n, c = x.shape[0], outs[0].shape[-1]
    stacked = jnp.stack([o[:, :rows, :cols] for o in outs]).reshape(f, f, n, rows, cols, c)
    # dense[F i + a, F j + b] = out[a, b][i, j]
    return stacked.transpose(2, 3, 0, 4, 1, 5).reshape(n, rows * f, cols * f, c)


def agree(params, spec, x: jax.Array) -> dict:
    """Both dense outputs on ``x``: their sizes and the relative max difference where both
    are defined."""
    stitched = shift_and_stitch(params, spec, x)
    rarefied = run(params, spec, x, rarefied=True)
    h, w = stitched.shape[1:3]
    diff = jnp.abs(stitched - rarefied[:, :h, :w]).max() / jnp.abs(rarefied).max()
    return {"stitched": (h, w), "rarefied": rarefied.shape[1:3], "rel_diff": float(diff)}


def cost(fn, *args, repeats: int = 5) -> tuple[float, float]:
    """(median seconds of the compiled ``fn(*args)``, XLA's FLOP count)."""
    jitted = jax.jit(fn)
    analysis = jitted.lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list | tuple) else analysis
    jax.block_until_ready(jitted(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(jitted(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(analysis.get("flops", float("nan")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="square input size (256)")
    parser.add_argument("--full", action="store_true", help="512x512 input")
    parser.add_argument("--results", default="", help="folder for the .md")
    args = parser.parse_args()
    size = 512 if args.full else args.size
    from experiments.table1 import machine

    nets = {"one pool (f = 2)": SPEC[:2] + SPEC[4:], "two pools (F = 4)": SPEC}
    x = jax.random.normal(jax.random.key(0), (1, size, size, 3))
    lines = [
        f"Input {size}x{size}x3, random He-initialised weights, float32, on {machine()}.",
        "",
        "| net | F | dense output (stitched / rarefied) | max rel. diff | coarse net once "
        "| shift-and-stitch (F^2 runs) | rarefaction (dilated) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, spec in nets.items():
        params = init(spec, 3, jax.random.key(1))
        r = agree(params, spec, x)
        timed = [
            cost(lambda x, p=params, s=spec: run(p, s, x), x),
            cost(lambda x, p=params, s=spec: shift_and_stitch(p, s, x), x),
            cost(lambda x, p=params, s=spec: run(p, s, x, rarefied=True), x),
        ]
        cells = " | ".join(f"{1000 * t:.1f} ms, {flops / 1e9:.2f} GFLOP" for t, flops in timed)
        lines.append(
            f"| {name} | {output_stride(spec)} | {r['stitched'][0]}x{r['stitched'][1]} / "
            f"{r['rarefied'][0]}x{r['rarefied'][1]} | {r['rel_diff']:.1e} | {cells} |"
        )
    lines += [
        "",
        f"Net: {', '.join(f'{kind} {k}' + (f'->{c}' if c else '') for kind, k, c in SPEC)} "
        "(the one-pool net drops the second pool and conv).",
    ]
    publish(lines, args.results, "shift_and_stitch.md")


if __name__ == "__main__":
    main()
