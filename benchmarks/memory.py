"""Peak resident memory of training steps, each framework in a fresh process.

python -m benchmarks.memory jax 500 500     # prints one JSON line
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from benchmarks.preallocation import share_the_accelerator


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux VmHWM; ``ru_maxrss`` would carry the
    parent's peak over ``exec``)."""
    peak = status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mib(field: str) -> float | None:
    """A memory field of /proc/self/status in MiB (``VmRSS``: resident now), None off Linux."""
    status = Path("/proc/self/status")
    for line in status.read_text().splitlines() if status.exists() else ():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def measure(framework: str, height: int, width: int, steps: int = 2, **options) -> dict:
    """Peak RSS of a process that builds the net and runs ``steps`` training steps, beside its
    peak after building alone (the difference is what the steps need)."""
    from benchmarks.contenders import jax_contenders, torch_contenders

    before = peak_rss_mib()
    make = jax_contenders if framework == "jax" else torch_contenders
    train = make(height, width, **options)["train"]
    built = peak_rss_mib()
    for _ in range(steps):
        train()
    return {"framework": framework, "before_mib": before, "built_mib": built,
            "peak_mib": peak_rss_mib(), **device_peak_mib(framework), **options}  # fmt: skip


def device_peak_mib(framework: str) -> dict:
    """The accelerator's peak allocated memory, where there is one (empty on a CPU)."""
    if framework == "torch":
        import torch

        if not torch.cuda.is_available():
            return {}
        return {"device_peak_mib": torch.cuda.max_memory_allocated() / 2**20}
    import jax

    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if not stats or "peak_bytes_in_use" not in stats:
        return {}
    return {"device_peak_mib": stats["peak_bytes_in_use"] / 2**20}


def in_subprocess(framework: str, height: int, width: int, **options) -> dict:
    args = [f"--{k}={v}" for k, v in options.items()]
    command = [sys.executable, "-m", "benchmarks.memory", framework, str(height), str(width), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    framework, height, width, *rest = sys.argv[1:]
    options = dict(a.removeprefix("--").split("=", 1) for a in rest)
    for flag in ("remat", "keep_freed_memory"):
        if flag in options:
            options[flag] = options[flag] == "True"
    print(json.dumps(measure(framework, int(height), int(width), **options)))
