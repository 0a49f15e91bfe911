"""The schema of a training config: every field of ``fcn_jax/default_config.py`` with its type,
range or choices (the choices are the code's own tuples), and :func:`check_config`, which holds
a config to it before any work is done. A problem is one line naming the field, its value and
what is allowed, raised as :class:`ConfigError`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from fcn_jax.data.datasets import PREPARED
from fcn_jax.data.transforms import INPUTS
from fcn_jax.kernels.choice import KERNELS
from fcn_jax.models import ALIGNMENTS, ARCHS, CLASSIFIERS
from fcn_jax.train.loop import ConfigError
from fcn_jax.train.parallel import MODES

__all__ = ["SCHEMA", "ConfigError", "check_config", "check_paths"]

# Choices spelled out in a ``match`` or an ``if`` where they are used, not as a tuple there:
OPTIMIZERS = ("sgd", "adam")  # train/optim.make_optimizer
LR_SCHEDULES = ("fixed", "poly")  # train/optim.schedule
NORMALIZE = ("sum", "mean")  # train/losses.loss_denominator
DTYPES = ("float32", "bfloat16")  # train/step.make_train_step
SAMPLING = ("replacement", "epochs")  # data/stream.train_batches
ON_ERROR = ("raise", "skip")  # data/folder.open_folder
KEEP_FREED_MEMORY = ("auto", "on", "off")  # cli/training.keeps_freed_memory
TASKS = (("semantic",), ("semantic", "geometric"))  # train/loop.supported


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int:
    low: int = 0

    def describe(self) -> str:
        return f"an integer >= {self.low}"

    def problem(self, value) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= self.low
        return None if ok else f"must be {self.describe()}"


@dataclass(frozen=True)
class Float:
    """A number in the range ``low`` to ``high``, each end open or closed."""

    low: float = 0.0
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        if self.high is None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"

    def problem(self, value) -> str | None:
        if not _number(value):
            return f"must be {self.describe()}"
        above = value > self.low if self.low_open else value >= self.low
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return None if above and below else f"must be {self.describe()}"


@dataclass(frozen=True)
class Bool:
    def problem(self, value) -> str | None:
        return None if isinstance(value, bool) else "must be True or False"


@dataclass(frozen=True)
class Text:
    def problem(self, value) -> str | None:
        return None if isinstance(value, str) else "must be a string"


@dataclass(frozen=True)
class Choice:
    options: tuple

    def problem(self, value) -> str | None:
        value = tuple(value) if isinstance(value, list) else value
        if value in self.options:
            return None
        return f"must be one of {', '.join(repr(o) for o in self.options)}"


@dataclass(frozen=True)
class Numbers:
    """A tuple of numbers each meeting ``each``: ``length`` of them, or at least one."""

    each: Int | Float
    length: int | None = None
    ordered: bool = False  # non-decreasing, e.g. a (low, high) range

    def problem(self, value) -> str | None:
        count = f"{self.length}" if self.length else "one or more"
        what = f"must be a tuple of {count} numbers, each {self.each.describe()}"
        if not isinstance(value, tuple | list) or not value:
            return what
        if (self.length and len(value) != self.length) or any(self.each.problem(v) for v in value):
            return what
        if self.ordered and list(value) != sorted(value):
            return f"must be in increasing order ({what.removeprefix('must be ')})"
        return None


@dataclass(frozen=True)
class Optional:
    inner: object

    def problem(self, value) -> str | None:
        problem = None if value is None else self.inner.problem(value)
        return problem and f"{problem}, or None"


@dataclass(frozen=True)
class Dataset:
    def problem(self, value) -> str | None:
        known = ("synthetic", *PREPARED)
        folder = isinstance(value, str) and value.startswith("folder:") and value != "folder:"
        if folder or value in known:
            return None
        return f"must be one of {', '.join(map(repr, known))} or 'folder:PATH'"


@dataclass(frozen=True)
class Arch:
    def problem(self, value) -> str | None:
        if value in ARCHS:
            return None
        if value in CLASSIFIERS:
            return (f"is a convolutionalized classifier (coarse class scores, no upsampling): "
                    f"train an FCN ({', '.join(ARCHS)}), e.g. with --config.init_from=DIR of "
                    f"its converted weights")  # fmt: skip
        return f"must be one of {', '.join(ARCHS)}"


SCHEMA = {
    "dataset": Dataset(),
    "on_error": Choice(ON_ERROR),
    "data_dir": Text(),
    "input": Choice(INPUTS),
    "tasks": Choice(TASKS),
    "num_train": Int(1),
    "num_val": Int(1),
    "image_sizes": Numbers(Int(1)),
    "arch": Arch(),
    "width": Float(0, low_open=True),
    "align": Choice(ALIGNMENTS),
    "learnable_upsampling": Bool(),
    "train_bn": Bool(),
    "aux_loss_weight": Float(0),
    "init_from": Text(),
    "total_steps": Int(1),
    "eval_every": Int(1),
    "checkpoint_every": Int(1),
    "batch_size": Int(1),
    "seed": Int(0),
    "parallel": Choice(MODES),
    "num_devices": Int(0),
    "dtype": Choice(DTYPES),
    "kernels": Choice(KERNELS),
    "remat": Bool(),
    "compilation_cache": Bool(),
    "keep_freed_memory": Choice(KEEP_FREED_MEMORY),
    "log_every": Int(1),
    "keep_checkpoints": Int(1),
    "num_tiles": Int(0),
    "bucket_multiple": Int(1),
    "flip": Bool(),
    "augment_scale": Optional(Numbers(Float(0, low_open=True), length=2, ordered=True)),
    "crop_size": Int(0),
    "sampling": Choice(SAMPLING),
    "workers": Int(0),
    "optimizer.name": Choice(OPTIMIZERS),
    "optimizer.learning_rate": Float(0, low_open=True),
    "optimizer.lr_schedule": Choice(LR_SCHEDULES),
    "optimizer.momentum": Float(0, 1, high_open=True),
    "optimizer.weight_decay": Float(0),
    "optimizer.bias_lr_mult": Float(0),
    "optimizer.accumulate_steps": Int(1),
    "loss.normalize": Choice(NORMALIZE),
    "loss.keep_rate": Optional(Float(0, 1, low_open=True)),
    "loss.class_weights": Optional(Numbers(Float(0))),
}
GROUPS = {field.split(".")[0] for field in SCHEMA if "." in field}


def flat(config) -> dict:
    """``{'optimizer.name': 'adam', ...}`` of a ConfigDict (or a dict), one level of groups."""
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    out = {}
    for key, value in values.items():
        if key in GROUPS and isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def check_config(config, fields: tuple[str, ...] | None = None) -> None:
    """Raise :class:`ConfigError` for the first field of ``config`` (of ``fields``, or all)
    that is unknown, missing, of the wrong type or outside its range or choices."""
    values = flat(config)
    if fields is None:
        for field in values:
            if field not in SCHEMA:
                near = difflib.get_close_matches(field, SCHEMA, n=1)
                hint = f"; did you mean config.{near[0]}?" if near else ""
                raise ConfigError(f"config.{field}: no such field{hint}")
    for field in SCHEMA if fields is None else fields:
        if field not in values:
            raise ConfigError(f"config.{field}: missing (every config starts from "
                              f"fcn_jax/default_config.py)")  # fmt: skip
        problem = SCHEMA[field].problem(values[field])
        if problem:
            raise ConfigError(f"config.{field}={values[field]!r}: {problem}")


def check_paths(config) -> None:
    """Raise :class:`DatasetNotReady` if the config's prepared dataset is not there, then
    :class:`ConfigError` if a source of ``init_from`` (``A|B``: one per stream) names nothing
    on disk; the dataset first, as opening it would say."""
    if config.dataset in PREPARED and config.init_from:
        from fcn_jax.data.prepared import builder, not_prepared

        if not builder(config.dataset, config.data_dir or None).is_prepared():
            raise not_prepared(config.dataset, config.data_dir or None)
    for source in config.init_from.split("|") if config.init_from else ():
        if not Path(source).exists():
            raise ConfigError(f"config.init_from={config.init_from!r}: {source!r} is no file or "
                              f"directory (a training workdir, fcn-jax convert's DIR, or an "
                              f".npz)")  # fmt: skip
