"""What a training run writes: JSON lines, TensorBoard events, a learning curve, a progress bar;
and the padding it counts for them."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from fcn_jax.data.labels import VOID
from fcn_jax.viz import learning_curve


class RunLog:
    """Appends metrics to ``metrics.jsonl`` and TensorBoard events under ``workdir``, keeps the
    history for ``learning_curve.png``. Only the first process of a multi-process run writes
    (``enabled``); the others' calls do nothing."""

    def __init__(self, workdir: Path, enabled: bool = True):
        self.workdir, self.enabled = Path(workdir), enabled
        if not enabled:
            return
        self.jsonl = (self.workdir / "metrics.jsonl").open("a")
        self.events = EventFileWriter(str(self.workdir / "tensorboard"))
        self.history: dict[str, list[tuple[int, float]]] = {}

    def write(self, step: int, split: str, values: dict) -> None:
        if not self.enabled:
            return
        scalars = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
        record = {"step": step, "split": split, "time": time.time(), **values}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        summary = Summary(
            value=[Summary.Value(tag=f"{split}/{k}", simple_value=v) for k, v in scalars.items()]
        )
        self.events.add_event(Event(wall_time=time.time(), step=step, summary=summary))
        self.events.flush()
        for key in ("loss", "mean_iu", "pixel_accuracy"):
            if key in scalars:
                self.history.setdefault(f"{split} {key}", []).append((step, scalars[key]))

    def plot(self) -> Path | None:
        if not self.enabled:
            return None
        path = self.workdir / "learning_curve.png"
        learning_curve(self.history).save(path)
        return path

    def close(self) -> None:
        if not self.enabled:
            return
        self.jsonl.close()
        self.events.close()


def progress_bar(enabled: bool = True) -> Progress:
    """Step, loss, steps/s and ETA."""
    return Progress(
        TextColumn("step"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:.2f} steps/s"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


class PaddingCount:
    """Label cells fed to the steps against the labelled (non-void) ones among them: what
    bucketing and padding cost (``padding_overhead`` in the run log)."""

    def __init__(self):
        self.padded = self.real = 0

    def count(self, label) -> None:
        self.padded += label.size
        self.real += int((label != VOID).sum())

    def overhead(self) -> float:
        return self.padded / max(self.real, 1) - 1
