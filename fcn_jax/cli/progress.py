"""The progress of ``eval`` and ``predict`` over their images: a rich bar on a terminal
(stderr, so stdout keeps only the results), with images/s and an ETA from the last 30 s, and
one plain summary line either way."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from fcn_jax.train.progress import shows_live


class ImagesPerSecond(ProgressColumn):
    """The recent rate (rich's estimate over its last 30 s of samples)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- images/s" if speed is None else f"{speed:.2f} images/s")


def image_bar(what: str, console: Console | None = None) -> Progress:
    """A bar for ``what`` (e.g. 'eval'); disabled (prints nothing) where it would not redraw
    in place (a pipe, a dumb terminal: rich would print it once more at the end)."""
    console = console or Console(stderr=True)
    return Progress(
        TextColumn(what),
        MofNCompleteColumn(),
        BarColumn(),
        ImagesPerSecond(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        redirect_stdout=sys.stdout.isatty(),  # prints go above the bar, not into a pipe
        disable=not shows_live(console),
    )


def rate(count: int, seconds: float) -> str:
    """'N image(s) in S s (R images/s)'."""
    per_second = count / seconds if seconds > 0 else 0.0
    return f"{count} image{'s' * (count != 1)} in {seconds:.1f} s ({per_second:.2f} images/s)"


class Tracked:
    """``items`` advancing ``bar``'s task by one each; ``count`` and ``seconds`` say how many
    were taken and for how long."""

    def __init__(self, items: Iterable, bar: Progress, total: int, what: str = ""):
        self.items, self.bar = items, bar
        self.task = bar.add_task(what, total=total)
        self.count, self.started, self.seconds = 0, time.perf_counter(), 0.0

    def __iter__(self) -> Iterator:
        for item in self.items:
            yield item
            self.count += 1
            self.seconds = time.perf_counter() - self.started
            self.bar.advance(self.task)

    def summary(self) -> str:
        return rate(self.count, self.seconds)
