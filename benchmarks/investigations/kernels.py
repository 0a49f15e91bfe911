"""Where a step's time goes on the device: a ``jax.profiler`` trace of our FCN-8s inference and
training step, read back with ``jax.profiler.ProfileData``, summed per event name.

    python -m benchmarks.investigations.kernels --sizes 256 500 --calls 10 [--out kernels.json]

For each size and task it prints the wall time per call (back-to-back calls), the device time
per call of each timeline of the device planes (on an H100 with JAX 0.11.2: one line per CUDA
stream, one event per kernel) and the events taking the most time, each with the HLO instruction
that first launched it (``hlo_op``: a cuDNN convolution, a fusion, or a command buffer grouping
several) and that instruction's JAX operation (``name``: the layer). A device busy for much less
than the wall time is waiting on the host (launches, dispatch). On a CPU the trace has no device
plane and the tables are empty: ``benchmarks.investigations.op_times`` reads the CPU runtime's
threads instead.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import jax
from jax.profiler import ProfileData

from benchmarks.contenders import jax_contenders
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import repeat, timed

SHOWN_STATS = ("hlo_op", "name")  # the HLO instruction that launched it and its JAX op (layer)


def device_events(trace_dir: str) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """Nanoseconds per (timeline, event name) over every device plane of the trace, and the
    statistics the first event of each name carries (its HLO instruction, on a GPU). One
    kernel launched by several instructions (the same cuDNN kernel for several layers) is one
    entry, named by the first."""
    totals: dict[str, dict[str, float]] = collections.defaultdict(collections.Counter)
    stats: dict[str, dict] = {}
    for path in Path(trace_dir).rglob("*.xplane.pb"):
        for plane in ProfileData.from_file(str(path)).planes:
            if not plane.name.startswith("/device:"):
                continue
            for line in plane.lines:
                for event in line.events:
                    totals[f"{plane.name} {line.name}"][event.name] += event.duration_ns
                    stats.setdefault(event.name, {k: str(v)[:200] for k, v in event.stats})
    return totals, stats


def profile(call, calls: int) -> dict:
    """Wall ms per call and device ms per call per timeline, with its top events."""
    repeat(call, 3)  # warm-up: compilation and autotuning stay out of the trace
    wall_ms = timed(call, calls) / calls * 1e3
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            repeat(call, calls)
        totals, stats = device_events(trace_dir)
    timelines = {}
    for line, events in totals.items():
        top = sorted(events.items(), key=lambda item: -item[1])[:15]
        timelines[line] = {
            "ms_per_call": sum(events.values()) / calls / 1e6,
            "events": len(events),
            "top_ms_per_call": {name: ns / calls / 1e6 for name, ns in top},
            "top_stats": {name: stats[name] for name, _ in top},
        }
    return {"wall_ms": wall_ms, "timelines": timelines}


def report(size: int, task: str, found: dict) -> str:
    lines = [f"\n## {task} at {size}: {found['wall_ms']:.2f} ms per call (wall)"]
    for line, row in found["timelines"].items():
        lines.append(f"{line}: {row['ms_per_call']:.2f} ms per call, {row['events']} names")
        for name, ms in row["top_ms_per_call"].items():
            shown = {k: v for k, v in row["top_stats"][name].items() if k in SHOWN_STATS}
            lines.append(f"    {ms:8.3f}  {name[:90]}  {shown or ''}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 500])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", default="benchmarks/investigations/kernels.json")
    args = parser.parse_args(argv)
    results = {"backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()]}
    for size in args.sizes:
        contenders = jax_contenders(size, size, dtype=args.dtype)
        for task, call in contenders.items():
            found = profile(call, args.calls)
            results[f"{task}_{size}"] = found
            print(report(size, task, found), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
