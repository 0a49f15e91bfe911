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


def alternating_medians(contenders: dict[str, Callable[[], object]], repeats: int) -> dict:
    """Median seconds per call of each contender, calling them in turn ``repeats`` times after
    one untimed warm-up call each."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(seconds(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}
