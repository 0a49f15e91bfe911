"""Timing helpers: alternate the contenders so that drift of the machine hits all of them, and
report medians."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from functools import partial


def seconds(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call (``fn`` must block until its work is done)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def repeat(fn: Callable[[], object], calls: int) -> None:
    """``calls`` calls of ``fn``, keeping none of the results (they may be device buffers)."""
    for _ in range(calls):
        fn()


def timed(fn: Callable[[], object], calls: int) -> float:
    """Seconds of ``calls`` back-to-back calls of ``fn``, as ``fn.timed(calls)`` measures them
    where it has that (a contender in another process: ``benchmarks.isolated``)."""
    if hasattr(fn, "timed"):
        return fn.timed(calls)
    return seconds(partial(repeat, fn, calls))


def calls_per_sample(fn: Callable[[], object], at_least: float = 0.2) -> int:
    """How many back-to-back calls of ``fn`` (already warm) take ``at_least`` seconds: one on a
    CPU, where a call takes a second, tens on a GPU, where one takes milliseconds and a lone
    call would time launch latency and clocks rising from idle."""
    return max(1, math.ceil(at_least / max(timed(fn, 1), 1e-6)))


def alternating_samples(
    contenders: dict[str, Callable[[], object]], repeats: int, settle: float = 0.5
) -> dict[str, list[float]]:
    """``repeats`` samples of seconds per call of each contender, taken in turn (round i of
    every contender runs before round i + 1 of any) after two untimed warm-up calls each; a
    sample is the mean of enough back-to-back calls to last 0.2 s (``calls_per_sample``).

    Each sample starts ``settle`` seconds after the previous one ended, so that worker threads
    one framework leaves spinning (PyTorch's OpenMP pool) have parked before the other runs.
    """
    calls = {}
    for name, fn in contenders.items():
        fn()
        calls[name] = calls_per_sample(fn)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            time.sleep(settle)
            times[name].append(timed(fn, calls[name]) / calls[name])
    return times


def alternating_medians(
    contenders: dict[str, Callable[[], object]], repeats: int, settle: float = 0.5
) -> dict:
    """Median seconds per call of each contender over :func:`alternating_samples`."""
    samples = alternating_samples(contenders, repeats, settle)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def paired_ratios(numerator: list[float], denominator: list[float]) -> dict:
    """Median, lowest and highest of the ratios of samples taken in the same round: the
    machine's drift between rounds (which on a shared cloud machine can be +-50%) moves both
    samples of a round together and cancels in their ratio."""
    ratios = sorted(a / b for a, b in zip(numerator, denominator, strict=True))
    return {"median": statistics.median(ratios), "low": ratios[0], "high": ratios[-1]}
