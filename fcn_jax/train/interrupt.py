"""Stopping a run cleanly: SIGTERM (a scheduler's preemption) or Ctrl-C asks the training loop
to stop after the current step (or between two validation images), write a checkpoint and exit;
it never cuts a step or a save in half. Further signals while stopping are only recorded: an
exception raised inside Orbax's or XLA's waits can crash the process (exit 139) and lose the
save."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

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
    """While active, SIGINT and SIGTERM set :attr:`requested` (the first signal's number)
    instead of ending the process, and count in :attr:`received`; none raises. Once a stop was
    asked, the handlers stay installed after the ``with`` block, until the process exits, so a
    second Ctrl-C cannot interrupt the last save or the interpreter's shutdown either. Outside
    the main thread (where Python cannot take signals) it does nothing."""

    def __init__(self):
        self.requested: int = 0
        self.received: int = 0
        self.previous: dict = {}

    def _handle(self, signum, frame):
        self.requested = self.requested or signum
        self.received += 1

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if not self.requested:  # nothing is stopping: the process's own handlers come back
            for signum, handler in self.previous.items():
                signal.signal(signum, handler)
        self.previous = {}


@contextmanager
def sigterm_ends_at_once(message: str):
    """While active, SIGTERM prints ``message`` (one line) and ends the process with 143 at
    once, as Python's default does silently: used outside the training steps (set-up), where
    nothing is being written. Raising instead, in the middle of XLA's or a data loader's work,
    crashed the interpreter at exit (139). :class:`StopSignals` takes the signal over inside the
    training loop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is terminated:
            signal.signal(signal.SIGTERM, previous)
