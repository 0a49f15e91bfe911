"""Run one framework's FCN-8s training steps (or inferences) in a loop, for a profiler to
attach to: prints its process id, waits, runs, and prints the mean seconds per call.

    python -m benchmarks.steps --framework jax --size 500 --calls 3 &
    perf record -F 499 -g -p PID -o perf.data -- sleep 40   # PID as printed
    perf report -i perf.data --no-children -g none --sort dso,sym

The calls start ``--wait`` seconds after the id is printed (compilation and two warm-up
calls are done by then), so the profile holds the steady state only.
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.contenders import jax_contenders, torch_contenders


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=["jax", "torch"], default="jax")
    parser.add_argument("--task", choices=["train", "infer"], default="train")
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--wait", type=float, default=3.0)
    args = parser.parse_args(argv)
    contenders = (jax_contenders if args.framework == "jax" else torch_contenders)(
        args.size, args.size
    )
    if contenders is None:
        raise SystemExit("benchmarks.steps: PyTorch is not installed (the 'torch' extra)")
    call = contenders[args.task]
    call(), call()
    print(f"ready: pid {os.getpid()}", flush=True)
    time.sleep(args.wait)
    start = time.perf_counter()
    for _ in range(args.calls):
        call()
    seconds = (time.perf_counter() - start) / args.calls
    print(f"{args.framework} {args.task} at {args.size}: {seconds:.3f} s per call", flush=True)
    return seconds


if __name__ == "__main__":
    main()
