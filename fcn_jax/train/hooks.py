"""The work a training run does around its steps, each piece on its own schedule.

Each step of the loop (:func:`fcn_jax.train.loop.train_and_evaluate`) is fed its batch
(:func:`feed`: padded across processes, counted, the freed memory released on a new shape);
after it the loop checks the loss (:func:`finite_loss`), reports progress (:class:`LogHook`),
and when due validates (:class:`ValidateHook`), checkpoints (:class:`CheckpointHook`) and
releases the freed memory (:func:`periodic_work`), asking whether to stop
(:class:`StopSignalsHook`) before and during validation. Each takes plain arguments; none reads
the config.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fcn_jax.train.checkpoint import Checkpoints
from fcn_jax.train.interrupt import StopSignals, TrainingInterrupted
from fcn_jax.train.parallel import (
    DataParallel,
    local_copy,
    max_over_processes,
    pad_to_largest,
    sum_over_processes,
)
from fcn_jax.train.runlog import PaddingCount, RunLog
from fcn_jax.train.step import evaluate, variables_of
from fcn_jax.viz import tile


@dataclass(frozen=True)
class Every:
    """Due on every ``steps``-th step and on step ``last``."""

    steps: int
    last: int

    def __call__(self, step: int) -> bool:
        return step % self.steps == 0 or step == self.last


def finite_loss(step: int, metrics: dict, checkpoints: Checkpoints) -> float:
    """The step's loss; raises if it or the gradient norm is not finite, before anything is
    saved."""
    loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])
    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
        raise FloatingPointError(
            f"step {step}: loss {loss}, gradient norm {grad_norm}; training stopped. "
            f"Checkpoints {checkpoints.steps()} are untouched; none was written after them."
        )
    return loss


class LogHook:
    """When ``every`` is due: the progress bar, and the 'train' row of the run log (loss,
    steps/s since ``first``, compilations, padding overhead); off a terminal, a plain progress
    line when ``plain`` is due too."""

    def __init__(self, log: RunLog, bar, every: Every, plain: Every, first: int, train_step,
                 padding: PaddingCount, primary: bool, started: float):  # fmt: skip
        self.log, self.bar, self.every, self.plain, self.first = log, bar, every, plain, first
        self.train_step, self.padding, self.started = train_step, padding, started
        self.lines = primary and not bar.console.is_terminal
        self.task = bar.add_task("train", total=every.last, completed=first, loss=0.0, rate=0.0)

    def __call__(self, step: int, loss: float) -> None:
        if not self.every(step):
            return
        rate = (step - self.first) / (time.time() - self.started)
        self.bar.update(self.task, completed=step, loss=loss, rate=rate)
        if self.lines and self.plain(step):
            eta = (self.every.last - step) / max(rate, 1e-9)
            print(f"step {step}/{self.every.last} loss {loss:.4f} {rate:.2f} steps/s", end=" ")
            print(f"ETA {eta:.0f} s")
        row = {
            "loss": loss,
            "steps_per_s": rate,
            "compilations": self.train_step.compilations(),
            "padding_overhead": self.padding.overhead(),
        }
        self.log.write(step, "train", row)


def never() -> bool:
    return False


def until(examples: Iterable, stopped: Callable[[], bool], taken: list) -> Iterator:
    """``examples`` (each appended to ``taken`` as it is given) until ``stopped()``, asked
    before each."""
    for example in examples:
        if stopped():
            return
        taken.append(example)
        yield example


def validate_on(eval_step, params, val, prep, targets, keep: int, stopped=never):
    """Confusions over the validation split, each process scoring its share, and the first
    ``keep`` predictions of this process's share; None if ``stopped()`` (asked between images)
    cut any process's share short."""
    share, taken = val[jax.process_index() :: jax.process_count()], []
    scored = until(share, stopped, taken)
    confusions, predicted = evaluate(eval_step, local_copy(params), scored, prep, targets, keep)
    if max_over_processes(np.array(len(taken) < len(share))):
        return None
    return sum_over_processes(confusions), list(zip(share, predicted, strict=False))


@dataclass
class ValidateHook:
    """Scores on the validation split when ``every`` is due: the 'val' row of the run log,
    ``samples_STEP.png`` of the first ``keep`` examples, the learning curve. ``score`` turns
    the confusions into scores; ``result`` holds the latest. ``stopped()``, asked between
    images, cuts it short: nothing is written and it returns None."""

    every: Every
    eval_step: Any
    prep: Any
    targets: Any
    val: list
    score: Any
    keep: int
    log: RunLog
    workdir: Path
    primary: bool
    result: dict = field(default_factory=dict)

    def due(self, step: int) -> bool:
        return self.every(step)

    def __call__(self, step: int, state, stopped=never) -> dict | None:
        variables = variables_of(state)
        scored = validate_on(
            self.eval_step, variables, self.val, self.prep, self.targets, self.keep, stopped
        )
        if scored is None:
            return None
        confusions, pairs = scored
        result = {**self.score(confusions), "eval_compilations": self.eval_step._cache_size()}
        self.log.write(step, "val", result)
        if pairs and self.primary:
            tile([(e["image"], e["label"], p) for e, p in pairs]).save(
                self.workdir / f"samples_{step:06d}.png"
            )
        self.log.plot()
        self.result = result
        return result


@dataclass
class CheckpointHook:
    """A checkpoint when ``every`` is due or a stop was asked: the state, the run's
    ``description`` (``RunSpec.to_json()``), the step's scores (if it validated), and where the
    data stream resumes with the ``data`` settings it depends on."""

    checkpoints: Checkpoints
    every: Every
    description: Any
    data: dict

    def due(self, step: int, stop: int) -> bool:
        return self.every(step) or bool(stop)

    def __call__(self, step: int, state, scores: dict | None) -> None:
        position = {"next_step": step, **self.data}
        self.checkpoints.save(step, state, self.description, scores, data=position)


@dataclass
class StopSignalsHook:
    """SIGTERM or Ctrl-C (:class:`StopSignals`) as every process agrees on it: after the
    step's checkpoint, :meth:`stop_if` waits for the save and ends the run. :meth:`received`
    is this process's own view, for stopping validation between images."""

    signals: StopSignals
    checkpoints: Checkpoints
    workdir: Path

    def asked(self) -> int:
        """The signal number any process received (0: none)."""
        return int(max_over_processes(np.array(self.signals.requested)))

    def received(self) -> bool:
        """Whether this process received a signal (no communication)."""
        return bool(self.signals.requested)

    def stop_if(self, step: int, signum: int) -> None:
        if signum:
            self.checkpoints.wait()
            raise TrainingInterrupted(step, signum, self.workdir)


def feed(local: dict, parallel: DataParallel, padding: PaddingCount, memory) -> dict:
    """This process's batch as the step takes it: padded to the processes' largest part,
    counted, placed; the freed memory is released first if its shape is new
    (:class:`~fcn_jax.kernels.allocator.ReleaseOnNewShape`)."""
    local = pad_to_largest(local)
    padding.count(local["label"])
    memory(local["image"].shape)
    return parallel.place_batch(local)


def periodic_work(step, placed, parallel, validation, checkpoint, stop_signals, memory) -> int:
    """Validation and the checkpoint when due, on the canonical state; then the freed memory
    is released (their buffers' holes would not fit the next step's). A stop asked before
    validation skips it, one asked during it cuts it short (between images); either way the
    step is checkpointed, without scores. Returns the stop's signal number (0: none)."""
    stop = stop_signals.asked()
    evaluated = validation.due(step) and not stop
    if not (evaluated or checkpoint.due(step, stop)):
        return stop
    canonical = parallel.canonical(placed)
    scores = validation(step, canonical, stop_signals.received) if evaluated else None
    if evaluated:
        stop = stop_signals.asked()  # a signal during validation
    if checkpoint.due(step, stop):
        checkpoint(step, canonical, scores)
    memory.release()
    return stop


def final_validation(step, state, validation, stop_signals) -> None:
    """Validation of a run with nothing left to train (its last step is checkpointed); a stop
    during it ends the run."""
    if validation(step, state, stop_signals.received) is None:
        stop_signals.stop_if(step, stop_signals.asked())
