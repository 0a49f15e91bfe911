"""What a training run shows as it goes. In a terminal (or Jupyter): a rich bar of the steps
with the loss, the recent steps/s and the time left, a second bar of the images while it
validates, and each validation's line printed above the bars. Off one (a pipe, a log file):
plain lines, each printed once and at once."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from fcn_jax.train.rate import StepRate, clock_time, seconds_left


def shows_live(console: Console) -> bool:
    """Whether ``console`` redraws a bar in place (a terminal that is not dumb, or Jupyter);
    anywhere else rich would only print the bar once, at the end."""
    return console.is_jupyter or (console.is_terminal and not console.is_dumb_terminal)


def progress_bar(enabled: bool = True, console: Console | None = None) -> Progress:
    """The bars (a task's description, done/total, the bar, its status text); disabled unless
    ``enabled`` and the console shows them live."""
    console = console or Console()
    return Progress(
        TextColumn("{task.description}"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        disable=not (enabled and shows_live(console)),
    )


def task_scores(result: dict, tasks: tuple[str, ...]) -> dict[str, dict]:
    """``{task: its scores}`` of a validation's result: the first task's are the result's own
    keys, every further task's are under its name."""
    return {tasks[0]: result, **{task: result.get(task, {}) for task in tasks[1:]}}


class BestScores:
    """The best mean IU of each task so far and its step, counting the ``earlier`` validation
    rows of the run log (a resumed run's)."""

    def __init__(self, tasks: tuple[str, ...], earlier: list[dict] = ()):
        self.tasks = tasks
        self.best: dict[str, tuple[float, int]] = {}
        for row in earlier:
            self.add(row["step"], row)

    def add(self, step: int, result: dict) -> None:
        for task, scores in task_scores(result, self.tasks).items():
            value = scores.get("mean_iu")
            if isinstance(value, int | float) and value > self.best.get(task, (-1.0, 0))[0]:
                self.best[task] = (float(value), step)


def validation_line(step: int, total: int, result: dict, tasks, best: BestScores,
                    images: int, seconds: float) -> str:  # fmt: skip
    """``step 20/40  val  mean IU 0.2582  pixel accuracy 0.8842  best mean IU 0.2582 at step 20
    (100 images, 58.1 s)``; with several tasks, each task's scores and best after its name."""
    parts = []
    for task, scores in task_scores(result, tasks).items():
        value, at = best.best.get(task, (float("nan"), step))
        named = f"{task}: " if len(tasks) > 1 else ""
        which = "best" if len(tasks) > 1 else "best mean IU"
        parts.append(
            f"{named}mean IU {scores['mean_iu']:.4f}  pixel accuracy "
            f"{scores['pixel_accuracy']:.4f}  {which} {value:.4f} at step {at}"
        )
    return f"step {step}/{total}  val  {' | '.join(parts)}  ({images} images, {seconds:.1f} s)"


def step_status(loss: float | None, per_s: float | None, eta: float | None) -> str:
    """``loss 0.6679  1.85 steps/s  ETA 0:00:11``; before a step was timed, ``-- steps/s``."""
    if loss is None:
        return "compiling the step"
    rate = "--" if per_s is None else f"{per_s:.2f}"
    return f"loss {loss:.4f}  {rate} steps/s  ETA {clock_time(eta)}"


class RunDisplay:
    """What the user sees of a run from step ``first`` to ``total``: :meth:`step` after a
    logged step, :meth:`scoring` after each validation image, :meth:`scored` when a
    validation ends. ``validations`` (an :class:`~fcn_jax.train.hooks.Every`) says how many are
    still due, each counted in the time left as the latest's images at its pace without the
    images that compiled (:meth:`scored`). Off a terminal, a step
    line is printed when ``plain`` is due. Shows nothing unless ``enabled`` (the first
    process)."""

    def __init__(self, bar: Progress, first: int, total: int, validations, plain, tasks,
                 best: BestScores, enabled: bool = True, clock=time.perf_counter):  # fmt: skip
        self.bar, self.total, self.validations, self.plain = bar, total, validations, plain
        self.tasks, self.best, self.clock = tasks, best, clock
        self.lines = enabled and bar.disable
        starting = step_status(None, None, None) if first < total else ""
        self.task = bar.add_task("step", total=total, completed=first, status=starting)
        self.validation_s: float | None = None  # the latest validation's
        self.validating = None  # the validation bar's task, while there is one
        self.began, self.images, self.compilations = 0.0, 0, 0
        self.image_rate = StepRate(clock=clock)

    def step(self, step: int, loss: float, per_s: float | None) -> None:
        validations = self.validations.remaining(step - 1)  # this step's own is still to come
        left = seconds_left(self.total - step, per_s, validations, self.validation_s)
        status = step_status(loss, per_s, left)
        self.bar.update(self.task, completed=step, status=status)
        if self.lines and self.plain(step):
            print(f"step {step}/{self.total}  {status}", flush=True)

    def scoring(self, step: int, done: int, images: int, compilations: int) -> None:
        """``done`` of the ``images`` of the validation at ``step`` are scored, the evaluation
        step compiled ``compilations`` times so far: an image that compiled is left out of the
        images/s (the pace of the next validations), not of this one's time left."""
        if done == 0:
            self.began, self.images, self.compilations = self.clock(), images, compilations
            self.image_rate = StepRate(steps=images, clock=self.clock)  # all of them
            self.image_rate.start()
            if self.lines:
                print(f"step {step}/{self.total}  validating {images} images", flush=True)
            if not self.bar.disable:
                self.validating = self.bar.add_task("validating", total=images, status="")
            return
        self.image_rate.stop(compiled=compilations > self.compilations)
        self.image_rate.start()
        self.compilations = compilations
        if self.validating is None:
            return
        per_s = self.image_rate.per_s()
        # the time left at this validation's own pace: its compilations are spread through it
        left = (images - done) * (self.clock() - self.began) / done
        rate = "--" if per_s is None else f"{per_s:.1f}"
        status = f"{rate} images/s  ETA {clock_time(left)}"
        self.bar.update(self.validating, completed=done, status=status)

    def scored(self, step: int, result: dict | None) -> None:
        """The validation at ``step`` ended with ``result`` (None: cut short by a stop). The
        next validations are counted in the time left as long as this one's images take at its
        images/s (without the images that compiled)."""
        if self.validating is not None:
            self.bar.remove_task(self.validating)
            self.validating = None
        if result is None:
            return
        took, per_s = self.clock() - self.began, self.image_rate.per_s()
        self.validation_s = took if per_s is None else self.images / per_s
        self.best.add(step, result)
        line = validation_line(step, self.total, result, self.tasks, self.best, self.images,
                               took)  # fmt: skip
        if self.lines:
            print(line, flush=True)
        elif not self.bar.disable:
            self.bar.console.print(line, highlight=False)
