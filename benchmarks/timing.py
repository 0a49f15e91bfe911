"""Timing helpers: alternate the contenders so that drift of the machine hits all of them, and
report medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def seconds(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call (``fn`` must block until its work is done)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternating_medians(
    contenders: dict[str, Callable[[], object]], repeats: int, settle: float = 0.5
) -> dict:
    """Median seconds per call of each contender, calling them in turn ``repeats`` times after
    one untimed warm-up call each.

    Each call starts ``settle`` seconds after the previous one ended, so that worker threads
    one framework leaves spinning (PyTorch's OpenMP pool) have parked before the other runs.
    """
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            time.sleep(settle)
            times[name].append(seconds(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}
