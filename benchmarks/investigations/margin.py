"""The zero-margin framing's gain: full-width FCN-8s (caffe alignment, batch 1, float32, random
weights) with the early layers framed (``fcn_jax/models/margin.py``, the default under the
"auto" kernels) against the same net with the framing turned off (every layer on the whole
canvas), in one process, alternating, median of ``--repeats``.

    python -m benchmarks.investigations.margin --size 500 [--train] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from fcn_jax.models import build, margin


def compiled(net, train: bool):
    if train:
        return jax.jit(jax.grad(lambda v, x: (net.apply(v, x) ** 2).mean()))
    return jax.jit(lambda v, x: net.apply(v, x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    net = build("fcn8s", num_classes=21)
    x = jax.random.normal(jax.random.key(1), (1, args.size, args.size, 3))
    variables = jax.jit(net.init)(jax.random.key(0), x)
    framed = compiled(net, args.train)
    jax.block_until_ready(framed(variables, x))  # traced with the plan
    planned, margin.planned = margin.planned, lambda *_: None
    try:
        whole = compiled(net, args.train)
        jax.block_until_ready(whole(variables, x))  # traced without it
    finally:
        margin.planned = planned
    times = {"framed": [], "whole": []}
    for _ in range(args.repeats):
        for name, fn in (("framed", framed), ("whole", whole)):
            start = time.perf_counter()
            jax.block_until_ready(fn(variables, x))
            times[name].append(time.perf_counter() - start)
    a, b = (float(np.median(times[k])) for k in ("framed", "whole"))
    task = "train step" if args.train else "inference"
    print(f"{args.size}x{args.size} {task}: framed {a:.3f} s, whole canvas {b:.3f} s, "
          f"{b / a:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
