"""What a training run writes: JSON lines, TensorBoard events, a learning curve, the config of
every start; and the padding it counts for them."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from fcn_jax.data.labels import VOID
from fcn_jax.viz import learning_curve, learning_series, png_bytes


def _records(path: Path) -> list[dict]:
    """The JSON lines of ``path`` (none if it is missing), less a line torn by a kill."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def rows(workdir: Path, split: str) -> list[dict]:
    """The rows of ``split`` in ``workdir/metrics.jsonl`` (none if it is missing)."""
    return [r for r in _records(Path(workdir) / "metrics.jsonl") if r.get("split") == split]


def _replace(path: Path, records: list[dict]) -> None:
    """Write ``records`` as the JSON lines of ``path`` atomically (a temporary file, renamed)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(temporary, path)


class RunLog:
    """Appends metrics to ``metrics.jsonl`` and TensorBoard events under ``workdir`` (the
    scalars, each class's IU as ``val/iu/<class name>``, images), and draws
    ``learning_curve.png`` from the whole of ``metrics.jsonl``, titled ``title``. A run resumed
    at step ``resumed_at`` first drops the rows of the steps after it (they are done again), so
    each step's row appears once. Only the first process of a multi-process run writes
    (``enabled``); the others' calls do nothing."""

    def __init__(self, workdir: Path, enabled: bool = True, resumed_at: int = 0,
                 class_names: Sequence[str] | None = None, title: str = ""):  # fmt: skip
        self.workdir, self.enabled = Path(workdir), enabled
        self.class_names, self.title = class_names, title
        if not enabled:
            return
        path = self.workdir / "metrics.jsonl"
        kept = [r for r in _records(path) if r.get("step", 0) <= resumed_at]
        if path.exists():
            _replace(path, kept)
        self.done = {(r.get("step"), r.get("split")) for r in kept}  # e.g. a redone validation
        self.jsonl = path.open("a")
        self.events = EventFileWriter(str(self.workdir / "tensorboard"))

    def _forget(self, step: int, split: str) -> None:
        """Drop the row of (``step``, ``split``) already in the file, before it is written anew."""
        self.jsonl.close()
        path = self.workdir / "metrics.jsonl"
        _replace(path, [r for r in _records(path) if (r["step"], r["split"]) != (step, split)])
        self.jsonl = path.open("a")
        self.done.discard((step, split))

    def write(self, step: int, split: str, values: dict) -> None:
        if not self.enabled:
            return
        if (step, split) in self.done:
            self._forget(step, split)
        scalars = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
        record = {"step": step, "split": split, "time": time.time(), **values}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        scalars.update(self._class_scalars(values.get("per_class_iu")))
        summary = Summary(
            value=[Summary.Value(tag=f"{split}/{k}", simple_value=v) for k, v in scalars.items()]
        )
        self._event(step, summary)

    def _event(self, step: int, summary: Summary) -> None:
        """Add to the TensorBoard events; if they cannot be written (a full disk), say so once
        and go on without them: ``metrics.jsonl`` holds the same scalars."""
        if self.events is None:
            return
        try:
            self.events.add_event(Event(wall_time=time.time(), step=step, summary=summary))
            self.events.flush()
        except OSError as err:
            print(f"fcn-jax train: warning: could not write the TensorBoard events in "
                  f"{self.workdir / 'tensorboard'} ({err.strerror or err}); training goes on "
                  "without them", file=sys.stderr, flush=True)  # fmt: skip
            self.events = None

    def _class_scalars(self, per_class) -> dict:
        """``{'iu/<class name>': IU}`` of the classes scored (a class absent from the ground
        truth and the predictions has none)."""
        if not isinstance(per_class, list):
            return {}
        names = self.class_names or [str(k) for k in range(len(per_class))]
        scored = zip(names, per_class, strict=False)
        return {f"iu/{name}": float(v) for name, v in scored if v is not None}

    def image(self, step: int, tag: str, png: bytes) -> None:
        """A PNG as TensorBoard's image ``tag`` at ``step``."""
        if not self.enabled:
            return
        with Image.open(io.BytesIO(png)) as decoded:
            (width, height), bands = decoded.size, len(decoded.getbands())
        picture = Summary.Image(height=height, width=width, colorspace=bands,
                                encoded_image_string=png)  # fmt: skip
        self._event(step, Summary(value=[Summary.Value(tag=tag, image=picture)]))

    def plot(self) -> Path | None:
        """``learning_curve.png`` of every row of ``metrics.jsonl`` (every start's), with the
        steps the run was resumed at."""
        if not self.enabled:
            return None
        path = self.workdir / "learning_curve.png"
        series = learning_series(_records(self.workdir / "metrics.jsonl"))
        starts = {r.get("step") for r in _records(self.workdir / "config_history.jsonl")}
        resumes = sorted(s for s in starts if isinstance(s, int) and s > 0)
        return write_figure(path, png_bytes(learning_curve(series, self.title, resumes)))

    def close(self) -> None:
        if not self.enabled:
            return
        self.jsonl.close()
        if self.events is not None:
            with contextlib.suppress(OSError):  # said when it failed
                self.events.close()


def write_figure(path: Path, png: bytes) -> Path | None:
    """Write a figure whole or not at all (a temporary file renamed over ``path``). A figure
    that cannot be written (a full disk) is said in one line and training goes on: figures
    are drawn again from the run's files, and the checkpoints are what must not be lost."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(png)
        os.replace(partial, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        print(f"fcn-jax train: warning: could not write {path} ({err.strerror or err}); "
              "training goes on", file=sys.stderr, flush=True)  # fmt: skip
        return None
    return path


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


def _changes(before: dict, after: dict, prefix: str = "") -> dict:
    """``{'optimizer.learning_rate': [old, new], ...}``: the fields whose values differ."""
    changed = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed.update(_changes(old, new, f"{prefix}{key}."))
        elif old != new:
            changed[f"{prefix}{key}"] = [old, new]
    return changed


def record_config(workdir: Path, config_json: str, step: int) -> dict:
    """Write ``config_json`` as ``workdir/config.json`` (the latest start's config) and append
    the start to ``config_history.jsonl``: its time, the step it starts at, the config and the
    fields changed since the previous start. Returns those changes (empty on a first start)."""
    workdir = Path(workdir)
    config = json.loads(config_json)
    history = workdir / "config_history.jsonl"
    starts = _records(history)
    latest = workdir / "config.json"
    if starts:
        previous = starts[-1]["config"]
    elif latest.exists():  # a run from before the history was kept: its config.json starts it
        previous = json.loads(latest.read_text())
        starts = [{"time": latest.stat().st_mtime, "step": None, "config": previous, "changed": {}}]
        _replace(history, starts)
    else:
        previous = None
    changed = {} if previous is None else _changes(previous, config)
    entry = {"time": time.time(), "step": step, "changed": changed, "config": config}
    with history.open("a") as out:
        out.write(json.dumps(entry) + "\n")
    temporary = latest.with_name(".config.json.tmp")
    temporary.write_text(config_json)
    os.replace(temporary, latest)
    return changed


def describe_changes(changed: dict) -> str:
    """One line: ``config changed since the last start: optimizer.learning_rate 0.001 -> 0.01``."""
    parts = [f"{field} {old!r} -> {new!r}" for field, (old, new) in changed.items()]
    return "config changed since the last start: " + ", ".join(parts)
