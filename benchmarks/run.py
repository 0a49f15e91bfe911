"""The FCN benchmark: ours against PyTorch eager on the same machine in the same run.

    python -m benchmarks.run                  # both sizes, table + benchmarks/results.json
    python -m benchmarks.run --sizes 256 --repeats 3 --skip-memory --skip-compile

FCN-8s/VGG16 in ``caffe`` alignment, batch 1, float32 (``--dtype bfloat16`` for ours in
bfloat16; our worker keeps freed memory unless ``--allocator`` says otherwise): inference and
training-step medians (the two frameworks alternate, each in a process of its own; the speed-up
is the median, with the range, of the ratios of the two samples taken in the same round),
achieved GFLOP/s against the measured matmul peak (FLOPs counted from the layers and checked
against XLA's count), compile time, compilations and padding over PASCAL-like sizes, peak memory
of a training step, and the input pipeline's rate against the step rate.

Each part prints a line when it finishes (with the seconds since the start) and rewrites
``OUT.partial`` with all measured so far; ``OUT`` itself is written only when every part is
done, so a run stopped by a time limit keeps its parts and leaves the last whole file intact.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import jax

from benchmarks import memory
from benchmarks.contenders import jax_contenders, jax_model, jax_parts, torch_contenders
from benchmarks.flops import forward_flops, train_flops, xla_flops
from benchmarks.isolated import Isolated
from benchmarks.peak import matmul_peak
from benchmarks.pipeline_rate import images_per_second, pascal_like_sizes
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import alternating_samples, paired_ratios, seconds
from fcn_jax.data.batching import bucket

HUGEPAGES = (
    "set GLIBC_TUNABLES=glibc.malloc.hugetlb=1 for every process the benchmark starts (both "
    "frameworks' timing workers, the memory runs, the pipeline's workers), so that glibc asks "
    "for transparent huge pages for the large buffers each step allocates"
)


ALLOCATOR = (
    "which frameworks' worker processes keep freed memory (fcn_jax/allocator.py): 'ours' "
    "(default) as fcn-jax train does with crops, with PyTorch as it ships; 'both' gives "
    "PyTorch the same setting; 'neither' leaves glibc's default in both"
)
KEEPS = {"ours": (True, False), "both": (True, True), "neither": (False, False)}


def speed(size: int, repeats: int, dtype: str, peak: float, allocator: str = "ours") -> dict:
    """Medians of both frameworks at size x size, with FLOP rates."""
    ours_keep, theirs_keep = KEEPS[allocator]
    with (
        Isolated(jax_contenders, size, size, dtype=dtype, keep_freed_memory=ours_keep) as ours,
        Isolated(torch_contenders, size, size, keep_freed_memory=theirs_keep) as theirs,
    ):  # each framework in a process of its own (benchmarks/isolated.py says why)
        contenders = {f"jax_{k}": v for k, v in ours.items()}
        contenders |= {f"torch_{k}": v for k, v in theirs.items()}
        samples = alternating_samples(contenders, repeats)
    medians = {name: statistics.median(ts) for name, ts in samples.items()}
    model, shape = jax_model(), (1, size, size, 3)
    flops = {"infer": forward_flops(model, shape), "train": train_flops(model, shape, False)}
    result = {"size": size, "dtype": dtype, "allocator": allocator, "seconds": medians,
              "samples": samples, "flops": flops}  # fmt: skip
    for task in ("infer", "train"):
        ours_s = medians[f"jax_{task}"]
        result[f"jax_{task}_gflops"] = flops[task] / ours_s / 1e9
        result[f"jax_{task}_of_peak"] = flops[task] / ours_s / 1e9 / peak
        if f"torch_{task}" in medians:
            result[f"torch_{task}_gflops"] = flops[task] / medians[f"torch_{task}"] / 1e9
            ratios = paired_ratios(samples[f"torch_{task}"], samples[f"jax_{task}"])
            result[f"{task}_speedup_vs_torch"] = ratios["median"]
            result[f"{task}_speedup_range"] = [ratios["low"], ratios["high"]]
    return result


def compile_costs(size: int, dtype: str) -> dict:
    """Seconds to compile our train step and inference at size x size, and XLA's FLOP count."""
    parts = jax_parts(size, size, dtype=dtype)
    state, batch = parts["state"], parts["batch"]
    lowered = parts["train_step"].step.lower(state, batch)
    train_s = seconds(lambda: lowered.compile())
    compiled = lowered.compile()
    infer_lowered = parts["infer"].lower(state.params, batch["image"])
    infer_s = seconds(lambda: infer_lowered.compile())
    return {
        "size": size,
        "train_compile_s": train_s,
        "infer_compile_s": infer_s,
        "xla_train_flops": xla_flops(compiled),
        "xla_infer_flops": xla_flops(infer_lowered.compile()),
        **compiled_memory_mib(compiled),
    }


def compiled_memory_mib(compiled) -> dict:
    """What XLA planned for the compiled train step: temporaries, and arguments + outputs
    (state and batch; donated, so mostly the same buffers). On a GPU this is the step's own
    need, where the allocator's peak also holds the autotuner's trial workspaces."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return {}
    return {
        "train_temp_mib": analysis.temp_size_in_bytes / 2**20,
        "train_arguments_mib": analysis.argument_size_in_bytes / 2**20,
    }


def bucketing(count: int = 1000, multiples=(32, 64, 128)) -> list[dict]:
    """Compilations (distinct padded shapes at batch 1) and padded-pixel overhead over
    PASCAL-like image sizes, per bucket multiple."""
    sizes = pascal_like_sizes(count)
    rows = []
    for m in multiples:
        padded = [(bucket(h, m), bucket(w, m)) for h, w in sizes]
        real = sum(h * w for h, w in sizes)
        rows.append({
            "multiple": m,
            "images": count,
            "compilations": len(set(padded)),
            "padding_overhead": sum(h * w for h, w in padded) / real - 1,
        })  # fmt: skip
    return rows


def torch_version() -> str | None:
    """PyTorch's version and the device it ran on (it takes CUDA where it sees it, whatever
    JAX's backend is: compare the two fields before reading a ratio)."""
    try:
        import torch
    except ImportError:
        return None
    return f"{torch.__version__} on {'cuda' if torch.cuda.is_available() else 'cpu'}"


def commit() -> str | None:
    """The checkout's commit, with '+changes' when the tree differs from it (None outside git)."""
    here = Path(__file__).parent

    def git(*args):
        done = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if head is None:
        return None
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "jax": jax.__version__,
        "torch": torch_version(),
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.local_devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
    }


def speedup(row: dict, task: str) -> str:
    """The median of the paired ratios, and their range where recorded (older results lack it)."""
    text = f"{row[f'{task}_speedup_vs_torch']:.2f}x"
    if f"{task}_speedup_range" in row:
        low, high = row[f"{task}_speedup_range"]
        text += f" ({low:.2f}-{high:.2f})"
    return text


def table(results: dict) -> str:
    every = [t for row in results["speed"] for t in row["seconds"].values()]
    unit, scale = ("ms", 1e3) if max(every) < 0.1 else ("s", 1)  # a GPU's calls take ms
    lines = [
        f"| size | task | ours ({unit}) | PyTorch ({unit}) | speed-up | ours img/s | ours GFLOP/s "
        "| of peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["speed"]:
        for task in ("infer", "train"):
            ours, theirs = row["seconds"][f"jax_{task}"], row["seconds"].get(f"torch_{task}")
            lines.append(
                f"| {row['size']} | {task} | {ours * scale:.3f} | "
                + (f"{theirs * scale:.3f} | {speedup(row, task)}" if theirs else "- | -")
                + f" | {1 / ours:.2f} | {row[f'jax_{task}_gflops']:.0f}"
                + f" | {row[f'jax_{task}_of_peak']:.0%} |"
            )
    lines.append(
        f"\nmatmul peak: {results['peak']['peak']:.0f} GFLOP/s (float32, best of JAX/PyTorch)"
        "\nGFLOP/s: a direct convolution's FLOPs (counted from the layers) per second; on a CPU "
        "our wide 3x3 layers multiply less (Winograd's algorithm, fcn_jax/winograd.py), so "
        "theirs is an effective rate"
    )
    for row in results.get("compile", []):
        lines.append(
            f"compile at {row['size']}: train step {row['train_compile_s']:.1f} s, inference "
            f"{row['infer_compile_s']:.1f} s; XLA counts {row['xla_train_flops'] / 1e9:.0f} "
            f"GFLOP per train step"
            + (f", temporaries {row['train_temp_mib']:.0f} MiB" if "train_temp_mib" in row else "")
        )
    for row in results.get("bucketing", []):
        lines.append(
            f"PASCAL-like sizes, buckets of {row['multiple']}: {row['compilations']} "
            f"compilations for {row['images']} images, padding {row['padding_overhead']:.1%}"
        )
    for row in results.get("memory", []):
        name, built = row["framework"] + (" remat" if row.get("remat") else ""), row["built_mib"]
        on_device = row.get("device_peak_mib")
        lines.append(
            f"peak RSS, {name} train step at {row['size']}: {row['peak_mib']:.0f} MiB "
            f"(after building {built:.0f} MiB)"
            + (f"; accelerator peak {on_device:.0f} MiB" if on_device else "")
        )
    if "pipeline" in results:
        p = results["pipeline"]
        lines.append(f"input pipeline: {p['images_per_s_0_workers']:.1f} images/s in-process, "
                     f"{p['images_per_s_2_workers']:.1f} with 2 workers; train steps "
                     f"{p['steps_per_s']:.2f}/s at 500")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--hugepages", action="store_true", help=HUGEPAGES)
    parser.add_argument("--allocator", choices=sorted(KEEPS), default="ours", help=ALLOCATOR)
    parser.add_argument("--out", default="benchmarks/results.json")
    args = parser.parse_args(argv)
    if args.hugepages:  # read by glibc when each worker process starts
        os.environ["GLIBC_TUNABLES"] = ":".join(
            filter(None, [os.environ.get("GLIBC_TUNABLES"), "glibc.malloc.hugetlb=1"])
        )
    out = Path(args.out)
    partial, started = out.with_name(out.name + ".partial"), time.perf_counter()

    def done(results: dict, part: str) -> None:
        """Say which part finished and when, and keep all measured so far in ``partial``
        (a run stopped by a time limit leaves it; ``out`` is written only at the end)."""
        print(f"[{time.perf_counter() - started:5.0f} s] {part}", flush=True)
        partial.write_text(json.dumps(results, indent=2, default=float))

    results: dict = {"machine": machine(), "peak": matmul_peak()}
    peak = results["peak"]["peak"]
    done(results, f"matmul peak {peak:.0f} GFLOP/s")
    results["speed"] = []
    for size in args.sizes:
        results["speed"].append(speed(size, args.repeats, args.dtype, peak, args.allocator))
        medians = results["speed"][-1]["seconds"].items()
        done(results, f"speed at {size}: " + ", ".join(f"{n} {s:.4g} s" for n, s in medians))
    if not args.skip_compile:
        results["compile"] = []
        for size in args.sizes:
            results["compile"].append(compile_costs(size, args.dtype))
            done(results, f"compile at {size}")
    results["bucketing"] = bucketing()
    if not args.skip_memory:
        size = max(args.sizes)
        ours, theirs = ({"keep_freed_memory": keep} for keep in KEEPS[args.allocator])
        runs = [("jax", ours), ("jax", {**ours, "remat": True}), ("torch", theirs)]
        results["memory"] = []
        for framework, options in runs:
            row = memory.in_subprocess(framework, size, size, **options)
            results["memory"].append({**row, "size": size})
            done(results, f"memory of {framework} {options}: {row['peak_mib']:.0f} MiB")
    if not args.skip_pipeline:
        step_s = results["speed"][0]["seconds"]["jax_train"]
        results["pipeline"] = {
            "images_per_s_0_workers": images_per_second(0),
            "images_per_s_2_workers": images_per_second(2),
            "steps_per_s": 1 / step_s,
        }
        done(results, "input pipeline")
    print(table(results))
    out.write_text(json.dumps(results, indent=2, default=float))
    partial.unlink(missing_ok=True)
    print(f"\nwrote {out}")
    return results


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
