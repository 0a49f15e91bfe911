"""The work a training run does around its steps, each piece on its own schedule.

Each step of the loop (:func:`fcn_jax.train.loop.train_and_evaluate`) is fed its batch
(:func:`feed`: padded across processes, counted, the freed memory released on a new shape);
after it the loop checks the loss (:func:`finite_loss`), times the step and reports progress
(:class:`LogHook`, to a :class:`~fcn_jax.train.progress.RunDisplay`), and when due validates
(:class:`ValidateHook`), checkpoints (:class:`CheckpointHook`) and releases the freed memory
(:func:`periodic_work`), asking whether to stop (:class:`StopSignalsHook`) before and during
validation. Each takes plain arguments; none reads the config.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
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
from fcn_jax.train.rate import StepRate
from fcn_jax.train.runlog import PaddingCount, RunLog, write_figure
from fcn_jax.train.step import evaluate, variables_of
from fcn_jax.viz import png_bytes, tile


@dataclass(frozen=True)
class Every:
    """Due on every ``steps``-th step and on step ``last``."""

    steps: int
    last: int

    def __call__(self, step: int) -> bool:
        return step % self.steps == 0 or step == self.last

    def remaining(self, step: int) -> int:
        """How many steps after ``step`` (up to ``last``) are due."""
        if step >= self.last:
            return 0
        return self.last // self.steps - step // self.steps + (self.last % self.steps != 0)


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
    """Each step's time (:class:`~fcn_jax.train.rate.StepRate`, from :meth:`begin` to the
    call; a step that compiled is left out); when ``every`` is due, the display's step (loss,
    recent steps/s, time left) and the 'train' row of the run log (loss, the same steps/s,
    compilations, padding overhead)."""

    def __init__(self, log: RunLog, display, every: Every, train_step, padding: PaddingCount,
                 rate: StepRate):  # fmt: skip
        self.log, self.display, self.every, self.rate = log, display, every, rate
        self.train_step, self.padding = train_step, padding
        self.compilations = train_step.compilations()

    def begin(self) -> None:
        self.rate.start()

    def __call__(self, step: int, loss: float) -> None:
        compilations = self.train_step.compilations()
        self.rate.stop(compiled=compilations > self.compilations)
        self.compilations = compilations
        if not self.every(step):
            return
        per_s = self.rate.per_s()
        self.display.step(step, loss, per_s)
        row = {
            "loss": loss,
            **({} if per_s is None else {"steps_per_s": per_s}),
            "compilations": compilations,
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


def counted(examples: list, report: Callable, compilations: Callable[[], int]) -> Iterator:
    """``examples``, with ``report(done, len(examples), compilations())`` before the first and
    after each is used (when the next is asked for)."""
    report(0, len(examples), compilations())
    for done, example in enumerate(examples, 1):
        yield example
        report(done, len(examples), compilations())


def validate_on(eval_step, params, val, prep, targets, keep: int, report, stopped=never):
    """Confusions over the validation split, each process scoring its share, and the first
    ``keep`` predictions of this process's share; None if ``stopped()`` (asked between images)
    cut any process's share short. ``report(done, images, compilations)`` follows this
    process's share and the evaluation step's compilations."""
    share, taken = val[jax.process_index() :: jax.process_count()], []
    scored = until(counted(share, report, eval_step._cache_size), stopped, taken)
    confusions, predicted = evaluate(eval_step, local_copy(params), scored, prep, targets, keep)
    if max_over_processes(np.array(len(taken) < len(share))):
        return None
    return sum_over_processes(confusions), list(zip(share, predicted, strict=False))


@dataclass
class ValidateHook:
    """Scores on the validation split when ``every`` is due: the 'val' row of the run log,
    ``samples_STEP.png`` of the first ``keep`` examples (also TensorBoard's image
    ``val/samples``, classes named by ``class_names``), the learning curve. ``score`` turns
    the confusions into scores; ``result`` holds the latest. ``stopped()``, asked between
    images, cuts it short: nothing is written and it returns None. ``display`` (a
    :class:`~fcn_jax.train.progress.RunDisplay`) shows its progress and its line."""

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
    display: Any
    result: dict = field(default_factory=dict)
    class_names: tuple | None = None

    def due(self, step: int) -> bool:
        return self.every(step)

    def __call__(self, step: int, state, stopped=never) -> dict | None:
        variables = variables_of(state)
        report = partial(self.display.scoring, step)
        scored = validate_on(
            self.eval_step, variables, self.val, self.prep, self.targets, self.keep, report, stopped
        )
        if scored is None:
            self.display.scored(step, None)
            return None
        confusions, pairs = scored
        result = {**self.score(confusions), "eval_compilations": self.eval_step._cache_size()}
        self.log.write(step, "val", result)
        if pairs and self.primary:
            rows = [(e["image"], e["label"], p) for e, p in pairs]
            png = png_bytes(tile(rows, self.class_names, f"validation samples at step {step}"))
            write_figure(self.workdir / f"samples_{step:06d}.png", png)
            self.log.image(step, "val/samples", png)
        self.log.plot()
        self.display.scored(step, result)
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
