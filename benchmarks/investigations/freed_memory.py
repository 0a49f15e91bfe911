"""Training steps with and without freed memory kept (``fcn_jax/allocator.py``): seconds, page
faults, kernel time and resident memory per step, over a sequence of batch shapes.

    python -m benchmarks.investigations.freed_memory  # FCN-8s: 500x500, 500x384, 384x500, 500x500
    python -m benchmarks.investigations.freed_memory --arch fcn-resnet50 --shapes 384x384 --steps 8

Each setting runs in a fresh process, as the setting is process-wide: 'default' (glibc's own),
'kept' (``keep_freed_memory``) and 'kept+release' (kept, with ``ReleaseOnNewShape`` before each
step, as ``fcn-jax train`` does). Per shape, one untimed step first (it compiles), then
``--steps`` timed ones; batch 1, the reference SGD solver (``benchmarks.contenders``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jax

from benchmarks.contenders import ARCH, inputs, jax_parts
from benchmarks.memory import peak_rss_mib, status_mib
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import seconds
from fcn_jax.kernels import allocator

SETTINGS = ("default", "kept", "kept+release")


def run(
    setting: str, arch: str, shapes: list[tuple[int, int]], steps: int, channels: float = 1.0
) -> dict:
    """One setting's steps over ``shapes``, in this process (which it changes for good), every
    channel count scaled by ``channels``."""
    if setting != "default" and not allocator.keep_freed_memory():
        raise RuntimeError("freed memory can be kept only with glibc's malloc")
    on_new_shape = allocator.ReleaseOnNewShape() if setting == "kept+release" else None
    parts = jax_parts(*shapes[0], arch=arch, channels=channels)
    box = {"state": parts["state"]}

    def step(batch):
        box["state"], metrics = parts["train_step"](box["state"], batch)
        metrics["loss"].block_until_ready()

    rows = []
    for height, width in shapes:
        image, label = inputs(height, width)
        batch = jax.device_put({"image": image, "label": label})
        if on_new_shape is not None:
            on_new_shape(image.shape)
        first = seconds(lambda batch=batch: step(batch))
        before = resource.getrusage(resource.RUSAGE_SELF)
        times = [seconds(lambda batch=batch: step(batch)) for _ in range(steps)]
        after = resource.getrusage(resource.RUSAGE_SELF)
        rows.append({
            "shape": f"{height}x{width}",
            "first_step_s": first,
            "step_s": times,
            "faults_per_step": (after.ru_minflt - before.ru_minflt) / steps,
            "kernel_s_per_step": (after.ru_stime - before.ru_stime) / steps,
            "resident_mib": status_mib("VmRSS"),
        })  # fmt: skip
    return {"setting": setting, "arch": arch, "shapes": rows, "peak_resident_mib": peak_rss_mib()}


def shape(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=ARCH)
    parser.add_argument("--shapes", type=shape, nargs="+",
                        default=[(500, 500), (500, 384), (384, 500), (500, 500)])  # fmt: skip
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--channels", type=float, default=1.0, help="scale every layer's width")
    parser.add_argument("--out", default="benchmarks/investigations/freed_memory.json")
    args = parser.parse_args(argv)
    results = []
    print(
        "| setting | shape | first step (s) | steps (s) | faults/step | kernel s/step | RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|")
    for setting in args.settings:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=context) as fresh:  # a process of its own
            options = (setting, args.arch, args.shapes, args.steps, args.channels)
            result = fresh.submit(run, *options).result()
        results.append(result)
        for row in result["shapes"]:
            steps = ", ".join(f"{t:.2f}" for t in row["step_s"])
            print(f"| {setting} | {row['shape']} | {row['first_step_s']:.2f} | {steps} | "
                  f"{row['faults_per_step']:,.0f} | {row['kernel_s_per_step']:.2f} | "
                  f"{row['resident_mib']:,.0f} |", flush=True)  # fmt: skip
        print(f"| {setting} | peak RSS | | | | | {result['peak_resident_mib']:,.0f} |")
    Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
