"""Whole-image training is patchwise training (paper sections 3.4 and 4.4).

    python -m experiments.whole_is_patchwise [--steps 300] [--full] [--results DIR]

1. *The gradient identity.* For a net without zero padding (conv, pool, conv, pool, conv, 1x1
   scores; receptive field 18, stride 4) the gradient of the whole-image loss, summed over the
   output cells, equals the sum over cells of the gradient of the loss of the same net run on
   that cell's receptive-field patch alone. Both are computed (``jax.grad`` of the whole image;
   ``jax.vmap(jax.grad)`` over the patches, then summed) and compared; so are their costs.
2. *Loss sampling.* The default synthetic config (FCN-8s, width 1/8) trained with every output
   cell in the loss (keep rate 1) and with a fraction p of the cells kept (0.5, 0.25), at a
   fixed expected batch (batch size 2 / p, as the paper's Fig. 5), for ``--steps`` steps: the
   training loss against steps and against wall-clock, and the final validation mean IU.

Writes ``whole_is_patchwise.md`` and ``loss_sampling.png`` into ``--results``.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from experiments.publish import publish
from fcn_jax.cli.config_check import check_config
from fcn_jax.default_config import get_config
from fcn_jax.models import Classifier, trace_layers
from fcn_jax.models.layers import Conv, MaxPool, ReLU
from fcn_jax.train.loop import train_and_evaluate
from fcn_jax.train.losses import pixel_cross_entropy


def small_trunk(features: int = 4, pad: int = 0):
    """conv 3x3, ReLU, pool 2/2, conv 3x3, ReLU, pool 2/2, conv 3x3, ReLU."""
    return (
        Conv(features, 3, pad=pad, name="conv1"),
        ReLU(name="relu1"),
        MaxPool(2, 2, name="pool1"),
        Conv(2 * features, 3, pad=pad, name="conv2"),
        ReLU(name="relu2"),
        MaxPool(2, 2, name="pool2"),
        Conv(2 * features, 3, pad=pad, name="conv3"),
        ReLU(name="relu3"),
    )


def small_net(num_classes: int = 3, features: int = 4) -> Classifier:
    """The small net without zero padding, its 1x1 score layer called fc8."""
    return Classifier(num_classes, partial(small_trunk, features))


def field(net, size: int = 64) -> tuple[int, int]:
    """(receptive field, stride) of the net's output, from the geometry."""
    f = trace_layers(net, size, size)[-1].trace.field
    return int(f.k), int(f.s)


def whole_gradient(net, params, image: jax.Array, labels: jax.Array):
    """Gradient of the loss summed over every output cell of the whole (H, W, C) image."""

    def loss(p):
        logits = net.apply({"params": p}, image[None])
        return pixel_cross_entropy(logits, labels[None], normalize="sum")

    return jax.grad(loss)(params)


def patch_gradients(net, params, image: jax.Array, labels: jax.Array, patch: int, stride: int):
    """Sum over output cells (i, j) of the gradient of the loss of the net run on the patch
    at (stride i, stride j) alone, against that cell's label."""
    m = labels.shape[0]
    rows = [image[stride * i : stride * i + patch] for i in range(m)]
    crops = jnp.stack([row[:, stride * j : stride * j + patch] for row in rows for j in range(m)])

    def loss(p, crop, label):
        logits = net.apply({"params": p}, crop[None])
        return pixel_cross_entropy(logits, label.reshape(1, 1, 1), normalize="sum")

    grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, crops, labels.reshape(-1))
    return jax.tree.map(lambda g: g.sum(axis=0), grads)


def relative_difference(a, b) -> float:
    """max |a - b| over every leaf, divided by max |b|."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    diff = max(float(jnp.abs(x - y).max()) for x, y in pairs)
    return diff / max(float(jnp.abs(y).max()) for y in jax.tree.leaves(b))


def identity_check(cells: int, features: int = 4, num_classes: int = 3, seed: int = 0) -> dict:
    """Both gradients on a random image of ``cells`` x ``cells`` output cells, their relative
    difference, and the wall-clock of each (compiled, median of 3)."""
    net = small_net(num_classes, features)
    patch, stride = field(net)
    size = patch + stride * (cells - 1)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    image = jax.random.normal(k1, (size, size, 3))
    labels = jax.random.randint(k2, (cells, cells), 0, num_classes)
    params = net.init(k3, image[None])["params"]
    whole = jax.jit(partial(whole_gradient, net))
    patchwise = jax.jit(partial(patch_gradients, net, patch=patch, stride=stride))
    out_shape = jax.eval_shape(net.apply, {"params": params}, image[None]).shape
    a, b = whole(params, image, labels), patchwise(params, image, labels)
    return {
        "size": size,
        "patch": patch,
        "stride": stride,
        "cells": out_shape[1],
        "rel_diff": relative_difference(b, a),
        "whole_s": seconds(lambda: whole(params, image, labels)),
        "patch_s": seconds(lambda: patchwise(params, image, labels)),
    }


def seconds(fn, repeats: int = 3) -> float:
    """Median wall-clock of ``fn()``, its result waited for."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def train_curve(keep_rate: float, steps: int, base_batch: int, workdir: Path) -> dict:
    """Train the default synthetic config keeping a fraction ``keep_rate`` of the loss cells
    at batch size ``base_batch / keep_rate``; the logged training losses with their wall-clock
    (from the first logged step, so compilation is left out) and the final validation scores."""
    config = get_config()
    config.total_steps, config.eval_every = steps, steps
    config.checkpoint_every, config.log_every = steps, 2
    config.image_sizes, config.num_val = (96,), 50
    config.batch_size = round(base_batch / keep_rate)
    config.loss.keep_rate = None if keep_rate == 1 else keep_rate
    check_config(config)
    result = train_and_evaluate(config, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    t0 = train[0]["time"]
    return {
        "batch": config.batch_size,
        "steps": [r["step"] for r in train],
        "seconds": [r["time"] - t0 for r in train],
        "loss": [r["loss"] for r in train],
        "mean_iu": result["mean_iu"],
        "pixel_accuracy": result["pixel_accuracy"],
    }


def smooth(values: list[float], window: int = 10) -> list[float]:
    """Trailing moving average."""
    v = np.asarray(values, np.float64)
    return [float(v[max(0, k - window + 1) : k + 1].mean()) for k in range(len(v))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per keep rate")
    parser.add_argument("--keep", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--base-batch", type=int, default=2, help="batch size at keep rate 1")
    parser.add_argument("--full", action="store_true", help="1500 steps")
    parser.add_argument("--out", default="runs/loss_sampling", help="training workdirs")
    parser.add_argument("--results", default="", help="folder for the .md and .png")
    args = parser.parse_args()
    steps = 1500 if args.full else args.steps
    from experiments.patchwise_vs_whole import line_plot
    from experiments.table1 import machine

    lines = [
        f"On {machine()}.",
        "",
        "Gradient identity (net without padding, random weights and labels, float32):",
        "",
        "| image | patch (receptive field) | stride | output cells | max rel. diff of gradients "
        "| whole-image gradient | patchwise gradients |",
        "|---|---|---|---|---|---|---|",
    ]
    for cells in (8, 32):
        r = identity_check(cells)
        lines.append(
            f"| {r['size']}x{r['size']} | {r['patch']} | {r['stride']} "
            f"| {r['cells']}x{r['cells']} | {r['rel_diff']:.1e} | {1000 * r['whole_s']:.1f} ms "
            f"| {1000 * r['patch_s']:.1f} ms |"
        )
    curves = {}
    for p in args.keep:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        curves[p] = train_curve(p, steps, args.base_batch, Path(args.out, f"keep{p}_{stamp}"))
    lines += [
        "",
        f"Loss sampling: default synthetic config (FCN-8s, width 1/8, 96x96 images), {steps} "
        f"steps, batch {args.base_batch} / p; validation on 50 scenes.",
        "",
        "| keep rate p | batch | training time | s/step | final train loss (mean of last 10 "
        "logs) | val. mean IU | val. pixel acc. |",
        "|---|---|---|---|---|---|---|",
    ]
    for p, c in curves.items():
        per_step = c["seconds"][-1] / max(c["steps"][-1] - c["steps"][0], 1)
        lines.append(
            f"| {p} | {c['batch']} | {c['seconds'][-1]:.0f} s | {per_step:.3f} "
            f"| {np.mean(c['loss'][-10:]):.3f} | {c['mean_iu']:.3f} | {c['pixel_accuracy']:.3f} |"
        )
    lines += [
        "",
        "The paper (section 4.4, Fig. 5): sampling 'does not have a significant effect on "
        "convergence rate compared to whole image training, but takes significantly more time "
        "due to the larger number of images that need to be considered per batch'.",
    ]
    out = publish(lines, args.results, "whole_is_patchwise.md")
    if out:
        by_step = {f"p={p} (batch {c['batch']})": list(zip(c["steps"], smooth(c["loss"]),
                   strict=True)) for p, c in curves.items()}  # fmt: skip
        by_time = {f"p={p} (batch {c['batch']})": list(zip(c["seconds"], smooth(c["loss"]),
                   strict=True)) for p, c in curves.items()}  # fmt: skip
        left = line_plot(by_step, "training loss (moving average)", "step", "loss")
        right = line_plot(by_time, "training loss (moving average)", "seconds", "loss")
        both = Image.new("RGB", (left.width + right.width, left.height), "white")
        both.paste(left, (0, 0))
        both.paste(right, (left.width, 0))
        both.save(out / "loss_sampling.png")


if __name__ == "__main__":
    main()
