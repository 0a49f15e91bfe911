"""The run description: what a checkpoint stores beside the weights so that evaluation,
prediction and a resumed run rebuild exactly the net that was trained, with its
preprocessing. :class:`RunSpec` is built from a config once (:meth:`RunSpec.from_config`) and
read back from every checkpoint written so far (:meth:`RunSpec.from_json`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

from fcn_jax.data.preprocessing import Normalisation
from fcn_jax.data.preprocessing import from_json as normalisation_from_json
from fcn_jax.models import build

HEAD_NAMES = {"semantic": "sem", "geometric": "geo"}  # layer suffixes, as the reference's


@dataclass(frozen=True)
class RunSpec:
    """The net a run trains and how its inputs are made; fields in the order checkpoints
    write them."""

    arch: str
    num_classes: int
    align: str
    width: float
    learnable_upsampling: bool
    train_bn: bool  # batch-norm statistics trained (else frozen)
    aux: bool  # the auxiliary head of a ResNet FCN is built
    dataset: str
    class_names: tuple[str, ...]
    mean_rgb: tuple[float, ...]  # the dataset's, subtracted unless ``preprocessing`` is stored
    tasks: tuple[str, ...]  # ('semantic',) or ('semantic', 'geometric')
    heads: tuple[tuple[str, int], ...]  # (suffix, classes) per task; () for one task
    inputs: str  # pipeline.INPUTS
    streams: tuple[str, ...]  # late fusion's streams; () for one stream
    extra_means: tuple[tuple[str, float | tuple[float, ...]], ...]  # e.g. NYUD's hha, log_depth
    preprocessing: Normalisation | None  # stored with the weights the run started from
    kernels: str = "auto"  # which convolution forms run (config.kernels)

    @classmethod
    def from_config(cls, config, dataset, tasks: tuple[str, ...], inputs: str) -> RunSpec:
        """The description of the net ``config`` trains on ``dataset``: heads per task, input
        channels, late-fusion streams and the means to subtract."""
        counts = [dataset.num_classes] + [len(dataset.task_class_names[t]) for t in tasks[1:]]
        heads = tuple(zip((HEAD_NAMES[t] for t in tasks), counts, strict=True))
        return cls(
            arch=config.arch,
            num_classes=dataset.num_classes,
            align=config.align,
            width=config.width,
            learnable_upsampling=config.learnable_upsampling,
            train_bn=config.train_bn,
            aux=bool(config.aux_loss_weight),
            dataset=config.dataset,
            class_names=tuple(dataset.class_names),
            mean_rgb=tuple(dataset.mean_rgb),
            tasks=tuple(tasks),
            heads=heads if tasks[1:] else (),
            inputs=inputs,
            streams=tuple(inputs.split("|")) if "|" in inputs else (),
            extra_means=_means(dataset.extra_means),
            preprocessing=None,
            kernels=config.kernels,
        )

    def to_json(self) -> dict:
        """The JSON form checkpoints store (``preprocessing`` only where one is stored)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["extra_means"] = dict(self.extra_means)
        if self.preprocessing is None:
            del fields["preprocessing"]
        else:
            fields["preprocessing"] = self.preprocessing.to_json()
        return json.loads(json.dumps(fields))  # tuples become lists, as JSON holds them

    @classmethod
    def from_json(cls, value: Mapping, where: str) -> RunSpec:
        """The spec a checkpoint's JSON describes, written by this or any earlier version
        (fields added since take the value those versions meant). An unknown field, a missing
        one or one of the wrong type is a one-line ValueError naming it and ``where``."""
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: a run description must be an object, got {value!r:.80}")
        unknown = sorted(set(value) - set(READERS))
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r} in the run description")
        given = {**ADDED_LATER, **value}
        fields = {}
        for name, read in READERS.items():
            if name not in given:
                raise ValueError(f"{where}: the run description lacks field {name!r}")
            fields[name] = read(given[name], f"{where}: run description field {name!r}")
        return cls(**fields)

    def class_counts(self) -> list[int]:
        """Classes per task."""
        return [n for _, n in self.heads] or [self.num_classes]

    def input_means(self) -> dict:
        """The means :func:`~fcn_jax.data.transforms.model_input` needs: for colour, the
        normalisation stored with the weights the run started from, if any, else the dataset's
        mean."""
        colour = self.mean_rgb if self.preprocessing is None else self.preprocessing
        return {"color": colour, **dict(self.extra_means)}


def model_from(spec: RunSpec):
    """The net ``spec`` describes."""
    return build(
        spec.arch,
        spec.num_classes,
        align=spec.align,
        width=spec.width,
        learnable_upsampling=spec.learnable_upsampling,
        streams=spec.streams,
        in_channels=4 if spec.inputs == "color+depth" else 3,
        heads=spec.heads,
        train_bn=spec.train_bn,
        aux=spec.aux,
        kernels=spec.kernels,
    )


def _means(value: Mapping) -> tuple:
    """Extra means as sorted (name, number or numbers) pairs."""
    return tuple(
        (k, tuple(float(x) for x in v) if isinstance(v, list | tuple) else float(v))
        for k, v in sorted(value.items())
    )


def _wrong(what: str, kind: str, value) -> ValueError:
    return ValueError(f"{what} must be {kind}, got {value!r:.80}")


def _string(value, what: str) -> str:
    if not isinstance(value, str):
        raise _wrong(what, "a string", value)
    return value


def _flag(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(what, "true or false", value)
    return value


def _count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _wrong(what, "a positive integer", value)
    return value


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(what, "a number", value)
    return float(value)


def _strings(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise _wrong(what, "a list of strings", value)
    return tuple(value)


def _mean(value, what: str) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise _wrong(what, "3 numbers", value)
    return tuple(_number(v, what) for v in value)


def _heads(value, what: str) -> tuple[tuple[str, int], ...]:
    pairs = value if isinstance(value, list | tuple) else None
    if pairs is None or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
        raise _wrong(what, "a list of [suffix, classes] pairs", value)
    return tuple((_string(name, what), _count(n, what)) for name, n in pairs)


def _extra_means(value, what: str) -> tuple:
    if not isinstance(value, Mapping):
        raise _wrong(what, "an object of means", value)
    for v in value.values():
        for x in v if isinstance(v, list | tuple) else [v]:
            _number(x, what)
    return _means(value)


def _preprocessing(value, what: str) -> Normalisation | None:
    return None if value is None else normalisation_from_json(value, what)


READERS = {  # every field, in to_json's order, with what checks and converts its JSON value
    "arch": _string,
    "num_classes": _count,
    "align": _string,
    "width": _number,
    "learnable_upsampling": _flag,
    "train_bn": _flag,
    "aux": _flag,
    "dataset": _string,
    "class_names": _strings,
    "mean_rgb": _mean,
    "tasks": _strings,
    "heads": _heads,
    "inputs": _string,
    "streams": _strings,
    "extra_means": _extra_means,
    "preprocessing": _preprocessing,
    "kernels": _string,
}

# Fields checkpoints written before them lack, with the value those versions meant. The first
# checkpoints (6c88ffd) held arch, num_classes, align, width, learnable_upsampling, dataset,
# class_names and mean_rgb; preprocessing (e5a718e) is written only where one is stored.
ADDED_LATER = {
    "inputs": "color",  # 70c1a26, NYUD inputs: before, every net took colour
    "extra_means": {},  # 70c1a26, with inputs
    "streams": [],  # 53ab377, late fusion: before, one stream
    "tasks": ["semantic"],  # 7a8f960, SIFT Flow's two tasks
    "heads": [],  # 7a8f960, with tasks
    "preprocessing": None,  # e5a718e: the dataset's mean
    "train_bn": False,  # cf43bcb, batch-norm statistics in training: before, frozen
    "aux": False,  # f9dcceb, the ResNet FCN's auxiliary head
    "kernels": "auto",  # config.kernels: before, the forms conv.py picked
}
