"""How fast training goes, as a user is shown it: steps per second over the recent steps, left
out the steps that compiled, with validation and checkpoints not counted as step time; and the
time left that follows from it."""

from __future__ import annotations

import time
from collections import deque


class StepRate:
    """Steps per second over the recent timed steps: the last ``steps`` of them, or as many more
    as the last ``seconds`` of step time hold. A step is timed from :meth:`start` to
    :meth:`stop`, so what runs between steps (validation, checkpoints) is never step time; a step
    that compiled (``stop(compiled=True)``: its batch shape was new) is left out, as its time is
    the compiler's."""

    def __init__(self, steps: int = 20, seconds: float = 10.0, clock=time.perf_counter):
        self.steps, self.seconds, self.clock = steps, seconds, clock
        self.durations: deque[float] = deque()
        self.total = 0.0  # of the durations
        self.began: float | None = None

    def start(self) -> None:
        self.began = self.clock()

    def stop(self, compiled: bool = False) -> None:
        if self.began is None:
            return
        duration, self.began = self.clock() - self.began, None
        if compiled:
            return
        self.durations.append(duration)
        self.total += duration
        while len(self.durations) > self.steps and self.total - self.durations[0] >= self.seconds:
            self.total -= self.durations.popleft()

    def per_s(self) -> float | None:
        """Steps per second over the window; None before any step was timed."""
        return len(self.durations) / self.total if self.durations and self.total > 0 else None


def seconds_left(
    steps_left: int, per_s: float | None, validations_left: int, validation_s: float | None
) -> float | None:
    """The time the rest of a run takes: its steps at ``per_s``, and each validation still due as
    long as the latest took (none counted before one was measured); None while the steps' rate
    is unknown."""
    if steps_left and per_s is None:
        return None
    steps = steps_left / per_s if steps_left else 0.0
    return steps + validations_left * (validation_s or 0.0)


def clock_time(seconds: float | None) -> str:
    """``1:02:05`` (hours:minutes:seconds), or ``--`` when unknown."""
    if seconds is None:
        return "--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
