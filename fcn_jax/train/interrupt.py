"""Stopping a run cleanly: SIGTERM (a scheduler's preemption) or Ctrl-C asks the training loop
to stop after the current step, write a checkpoint and exit; it never cuts a step or a save in
half. A second Ctrl-C interrupts at once."""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint at ``step``."""

    def __init__(self, step: int, signum: int, workdir):
        self.step, self.signum = step, signum
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} received: stopped after step {step}, checkpoint saved in {workdir}; "
            "run the same command again to resume"
        )

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


class StopSignals:
    """While active, SIGINT and SIGTERM set :attr:`requested` (the signal's number) instead of
    ending the process. Outside the main thread (where Python cannot take signals) it does
    nothing."""

    def __init__(self):
        self.requested: int = 0
        self.previous: dict = {}

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}
