"""The FCN benchmark: ours against every peer on the same machine in the same run.

    python -m benchmarks.run                  # both sizes, table + benchmarks/results.json
    python -m benchmarks.run --sizes 256 --repeats 3 --skip-memory --skip-compile

FCN-8s/VGG16 in ``caffe`` alignment, batch 1, float32 (``--dtype bfloat16`` for ours in
bfloat16), against PyTorch eager (NCHW), channels_last, torch.compile and ONNX Runtime
(inference) with the same weights (``benchmarks/peers.py``; ``--peers`` picks): inference and
training-step medians (every contender in a process of its own, alternated round by round,
every worker with the same allocator setting, ``--allocator``; each ratio is the median, with
the range, of the ratios of the two samples taken in the same round; each peer's logits are
checked against ours, and one that fails is a row's note),
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
import subprocess
import tempfile
import time
from pathlib import Path

import jax

from benchmarks import memory
from benchmarks.contenders import jax_parts
from benchmarks.flops import xla_flops
from benchmarks.peak import matmul_peak
from benchmarks.peers import PEERS, reference_weights
from benchmarks.pipeline_rate import images_per_second, pascal_like_sizes
from benchmarks.preallocation import share_the_accelerator
from benchmarks.speed import KEEPS, speed, speed_table
from benchmarks.timing import seconds
from fcn_jax.data.batching import bucket

HUGEPAGES = (
    "set GLIBC_TUNABLES=glibc.malloc.hugetlb=1 for every process the benchmark starts (both "
    "frameworks' timing workers, the memory runs, the pipeline's workers), so that glibc asks "
    "for transparent huge pages for the large buffers each step allocates"
)


ALLOCATOR = (
    "which workers keep freed memory (fcn_jax/allocator.py), one speed row each; the first is "
    "the headline: 'neither' (default) leaves glibc's default in every worker, 'both' makes "
    "every worker keep it (as fcn-jax train does with crops), 'ours' only our worker"
)
PEER_NAMES = "the peers to time, each in a worker of its own (default: all)"


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


def table(results: dict) -> str:
    lines = speed_table(results["speed"])
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
        name = row["framework"] + (" remat" if row.get("remat") else "")
        name += ", freed memory kept," if row.get("keep_freed_memory") else ""
        built = row["built_mib"]
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
    parser.add_argument("--allocator", choices=sorted(KEEPS), nargs="+",
                        default=["neither", "both"], help=ALLOCATOR)  # fmt: skip
    parser.add_argument("--peers", choices=list(PEERS), nargs="+", default=list(PEERS),
                        help=PEER_NAMES)  # fmt: skip
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
    with tempfile.TemporaryDirectory() as folder:  # the weights every worker reads
        weights = reference_weights(Path(folder) / "fcn8s.npz")
        for size in args.sizes:
            for setting in args.allocator:
                row = speed(size, args.repeats, args.dtype, peak, setting, weights, args.peers)
                results["speed"].append(row)
                medians = ", ".join(f"{n} {s:.4g} s" for n, s in row["seconds"].items())
                done(results, f"speed at {size} ({setting}): {medians}")
    if not args.skip_compile:
        results["compile"] = []
        for size in args.sizes:
            results["compile"].append(compile_costs(size, args.dtype))
            done(results, f"compile at {size}")
    results["bucketing"] = bucketing()
    if not args.skip_memory:  # with the headline's allocator setting
        size = max(args.sizes)
        ours, theirs = ({"keep_freed_memory": keep} for keep in KEEPS[args.allocator[0]])
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
