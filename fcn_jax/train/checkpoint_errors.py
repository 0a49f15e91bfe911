"""What goes wrong with checkpoints, each said in one line: a save that failed
(:class:`CheckpointError`, with the operating system's reason), a step that cannot be read or
whose arrays differ from their checksums (:class:`CheckpointDamaged`); and filters that keep
Orbax's tracebacks of a failed save off the terminal (:func:`quiet_orbax`)."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path


class CheckpointError(OSError):
    """A checkpoint could not be written (or, as :class:`CheckpointDamaged`, read)."""


class NoCheckpoint(CheckpointError, FileNotFoundError):
    """The checkpoint asked for is not there: no checkpoints at all, none evaluated, or no
    checkpoint at that step."""


class CheckpointDamaged(CheckpointError, ValueError):
    """A checkpoint's files cannot be read, or its arrays differ from their checksums."""

    def __init__(self, directory: Path, step: int, what: str, intact: list[int] | None = None):
        self.step, self.what = step, what
        others = "" if intact is None else f"; intact checkpoints: {intact}"
        super().__init__(f"checkpoint step {step} in {directory} is damaged: {what}{others}")


class _OrbaxErrors(logging.Filter):
    """Drops Orbax's error logs (tracebacks of a failed save's threads): the
    :class:`CheckpointError` raised says what failed, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)


ORBAX_ERRORS = _OrbaxErrors()


class _OrbaxTasks(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for Orbax's writing tasks, logged
    when a failed save's tasks are collected (at exit, after the one line was said)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and "orbax" in record.getMessage())


ORBAX_TASKS = _OrbaxTasks()


def _closed_loop(unraisable) -> bool:
    """A TensorStore callback of a failed save, run after Orbax closed its event loop."""
    exc = unraisable.exc_value
    return isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"


def quiet_orbax() -> None:
    """Keep the tracebacks of a failed save's threads off the terminal (once per process): Orbax's
    error logs, asyncio's reports of its failed tasks, and TensorStore's callbacks on Orbax's
    closed event loop."""
    logging.getLogger("absl").addFilter(ORBAX_ERRORS)
    logging.getLogger("asyncio").addFilter(ORBAX_TASKS)
    hook = sys.unraisablehook
    if getattr(hook, "fcn_jax_quiet", False):
        return

    def quiet(unraisable) -> None:
        if not _closed_loop(unraisable):
            hook(unraisable)

    quiet.fcn_jax_quiet = True
    sys.unraisablehook = quiet


def failure_reason(err: BaseException) -> str:
    """Why a save failed, as the operating system says it (else a guess)."""
    while err is not None:
        if isinstance(err, OSError) and err.strerror:
            return err.strerror
        if code := re.search(r"os_error_code='(\d+)'", str(err)):
            return os.strerror(int(code.group(1)))
        err = err.__cause__ or err.__context__
    return "disk full or not writable?"
