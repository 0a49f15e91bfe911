"""Any of our nets alone: milliseconds and images/s of inference and of a training step.

    python -m benchmarks.archs --archs fcn8s fcn-resnet101 --size 512
    python -m benchmarks.archs --archs fcn32s --size 64 --width 0.0625 --repeats 1  # a smoke run

Batch 1, float32 (``--dtype bfloat16`` computes the training step in bfloat16), SGD as the
reference solver with the bilinear deconvolutions frozen. ``benchmarks.run`` is the comparison
with PyTorch (FCN-8s/VGG16 only); this is for the other nets (AlexNet, GoogLeNet and the
dilated ResNets), on whatever JAX runs on. Each figure is the median of ``--repeats`` samples
(``benchmarks.timing``), and the FLOP rate counts a direct convolution's FLOPs from the layers
(``benchmarks.flops``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import jax

from benchmarks.contenders import jax_contenders, jax_model
from benchmarks.flops import forward_flops, train_flops
from benchmarks.peak import matmul_peak
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import calls_per_sample, timed
from fcn_jax.kernels.allocator import keep_freed_memory
from fcn_jax.models import ARCHS


def measure(
    arch: str, size: int, repeats: int, peak: float, width: float = 1.0, dtype: str = "float32"
) -> dict:
    """Medians of ``arch``'s inference and training step at size x size, as ms, images/s and
    the share of ``peak`` (GFLOP/s)."""
    parts = jax_contenders(size, size, arch=arch, channels=width, dtype=dtype)
    model, shape = jax_model(arch, width), (1, size, size, 3)
    flops = {"infer": forward_flops(model, shape), "train": train_flops(model, shape, False)}
    row = {"arch": arch, "size": size, "width": width, "dtype": dtype}
    for task in ("infer", "train"):
        fn = parts[task]
        fn()  # compiles
        calls = calls_per_sample(fn)
        s = statistics.median(timed(fn, calls) / calls for _ in range(repeats))
        row |= {f"{task}_ms": s * 1e3, f"{task}_images_per_s": 1 / s}
        row[f"{task}_of_peak"] = flops[task] / s / 1e9 / peak
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", choices=ARCHS, default=list(ARCHS))
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=float, default=1.0, help="channel scale (tests: small)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--peak", type=float, help="matmul GFLOP/s (default: measured)")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    keep_freed_memory()  # one shape throughout, as fcn-jax train with crops (allocator.py)
    peak = args.peak or matmul_peak()["peak"]
    print(f"{jax.devices()[0].device_kind}, matmul peak {peak:.0f} GFLOP/s, size {args.size}")
    print("| net | infer ms | img/s | of peak | train ms | img/s | of peak |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for arch in args.archs:
        row = measure(arch, args.size, args.repeats, peak, width=args.width, dtype=args.dtype)
        rows.append(row)
        if args.out:  # after each net, so a run stopped part-way keeps what it measured
            Path(args.out).write_text(json.dumps({"peak": peak, "rows": rows}, indent=2))
        print(f"| {arch} | " + " | ".join(
            f"{row[f'{t}_ms']:.1f} | {row[f'{t}_images_per_s']:.1f} | {row[f'{t}_of_peak']:.0%}"
            for t in ("infer", "train")) + " |", flush=True)  # fmt: skip
    return rows


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
