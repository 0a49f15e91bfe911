"""Where a compiled training step (or inference) spends its time, op by op, from JAX's own
profiler.

    python -m benchmarks.investigations.op_times --size 500 [--task infer]

Traces one call of our FCN-8s training step or inference (``--task``; after two warm-up
calls) with ``jax.profiler``, reads the trace back with ``jax.profiler.ProfileData`` and sums
the time of each compiled HLO instruction the runtime recorded (XLA's CPU runtime records
every one), naming each by the JAX operation it came from (its ``op_name``: layer, forward
or backward). Times are per thread: the CPU runtime runs independent instructions (a layer's
input gradient and its kernel gradient) side by side, so two that overlap each show their
whole span.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import tempfile
from pathlib import Path

import jax

from benchmarks.contenders import jax_parts
from benchmarks.preallocation import share_the_accelerator

SKIP = ("ThunkExecutor", "SlinkyThreadPool", "while")  # spans enclosing other ops


def op_names(hlo_text: str) -> dict[str, tuple[str, str]]:
    """instruction name -> (result shape, op_name metadata) in a compiled module's text."""
    found = {}
    pattern = re.compile(r"\s*(?:ROOT )?%([\w.\-]+) = (\S+) .*?op_name=\"([^\"]*)\"")
    for line in hlo_text.splitlines():
        if m := pattern.match(line):
            found.setdefault(m.group(1), (m.group(2), m.group(3)))
    return found


def thread_times(trace_dir: str) -> tuple[collections.Counter, collections.Counter]:
    """(total ns, count) per event name on XLA's worker threads, from the trace's xplane."""
    from jax.profiler import ProfileData

    path = sorted(Path(trace_dir).rglob("*.xplane.pb"))[-1]
    total, count = collections.Counter(), collections.Counter()
    for plane in ProfileData.from_file(str(path)).planes:
        for line in plane.lines:
            if "XLA" not in line.name or "PjRt" in line.name:
                continue
            for event in line.events:
                if not event.name.startswith(SKIP):
                    total[event.name] += event.duration_ns
                    count[event.name] += 1
    return total, count


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--task", choices=["train", "infer"], default="train")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", default="benchmarks/investigations/op_times.json")
    args = parser.parse_args(argv)
    parts = jax_parts(args.size, args.size)
    batch = jax.device_put(parts["batch"])
    box = {"state": parts["state"]}
    if args.task == "train":
        compiled = parts["train_step"].step.lower(parts["state"], batch).compile()

        def call():
            box["state"], metrics = compiled(box["state"], batch)
            metrics["loss"].block_until_ready()
    else:
        params, image = parts["state"].params, batch["image"]
        compiled = parts["infer"].lower(params, image).compile()

        def call():
            compiled(params, image).block_until_ready()

    names = op_names(compiled.as_text())

    call(), call()
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            call()
        total, count = thread_times(trace_dir)
    if not total:
        raise SystemExit("benchmarks.investigations.op_times: the trace holds no XLA "
                         "instructions on XLA's threads (another backend names its threads "
                         "otherwise)")  # fmt: skip
    rows = [{"instruction": name, "ms": ns / 1e6, "calls": count[name],
             "shape": names.get(name, ("", ""))[0], "op": names.get(name, ("", ""))[1]}
            for name, ns in total.most_common()]  # fmt: skip
    library = sum(r["ms"] for r in rows if r["instruction"].startswith(("ynn_", "xnn_", "onednn")))
    whole = sum(r["ms"] for r in rows)
    print(f"FCN-8s {args.task} {args.size}x{args.size}: {whole:.0f} ms of thread time, "
          f"{library / whole:.0%} in library kernels (convolutions, matrix products)")  # fmt: skip
    kinds = collections.Counter()  # an instruction's kind: its name without the .N suffix
    for r in rows:
        kinds[re.sub(r"\.\d+$", "", r["instruction"])] += r["ms"]
    print("by kind: " + ", ".join(f"{k} {ms / whole:.1%}" for k, ms in kinds.most_common(12)))
    for r in rows[: args.top]:
        print(f"{r['ms']:9.1f} ms {r['calls']:5d}x  {r['instruction']:28s} {r['shape'][:28]:28s} "
              f"{re.sub(r'^jit[(][^)]*[)]/', '', r['op'])[-80:]}")  # fmt: skip
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
