"""Importing weights for a net: the authors' Caffe models, torchfcn, torchvision and timm.

One path for every format: the file becomes ``{caffe layer: blobs}`` (:mod:`.caffemodel`,
:mod:`.files` + :mod:`.naming`), then :func:`import_layers` builds the net, places each layer
(:func:`.assign.assign`) and does the surgery the pair needs:

- FCN weights into the same FCN: every layer must be there.
- FCN weights into a net with more skips (32s -> 16s -> 8s, the paper's staged training): the
  new score layers start at zero, the new deconvolutions bilinear; the source's final
  upsampling layer, replaced by the new net's, is dropped.
- A classifier (VGG16, CaffeNet) into an FCN: the trunk is transplanted, fc6/fc7 convolutionalized,
  fc8 dropped, the score and upsampling layers freshly initialised.
- A classifier into its convolutionalized self (arch ``vgg16``/``alexnet``/``googlenet``): fc8
  (``loss3/classifier``) kept as a 1x1 conv; GoogLeNet's auxiliary classifiers dropped.
- ``num_classes`` differing from the file's: the score layers are resized
  (:func:`fcn_jax.weights.surgery.resize_classes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from fcn_jax.data.preprocessing import CAFFE_ILSVRC, TORCHVISION
from fcn_jax.models import CLASSIFIERS, FCN, build, input_channels, trace_layers
from fcn_jax.models.layers import Scale
from fcn_jax.names import FORMATS
from fcn_jax.weights.assign import abstract_params, assign, outputs_of, to_numpy
from fcn_jax.weights.caffemodel import read_caffemodel
from fcn_jax.weights.files import read_state
from fcn_jax.weights.naming import resnet_layers, torchfcn_layers, vgg16_layers
from fcn_jax.weights.surgery import is_head_layer, resize_classes

# A classifier's last layer (VGG16/CaffeNet fc8, GoogLeNet's loss3/classifier) and GoogLeNet's
# auxiliary classifiers: dropped when the trunk becomes an FCN, as in the paper.
CLASSIFIER_LAYERS = ("fc8", "loss3_classifier", "fc1000")
AUXILIARY = ("loss1_", "loss2_")
NEW_HEADS = ("head_", "aux_")  # a ResNet FCN's head layers, initialised when the source lacks them
PREPROCESSING = {"caffe": CAFFE_ILSVRC, "torchfcn": CAFFE_ILSVRC,
                 "torchvision": TORCHVISION, "timm": TORCHVISION}  # fmt: skip


class Imported(NamedTuple):
    params: dict
    batch_stats: dict  # batch-norm running statistics ({} for nets without batch norm)
    meta: dict  # arch, num_classes, width, align, learnable_upsampling, heads
    copied: list[str]
    fresh: list[str]  # initialised here (new score/upsampling layers)
    dropped: list[str]  # in the file, deliberately not used (a classifier's fc8)
    resized: str | None  # "21 -> 5 classes" when the score layers were resized


def infer_width(found: Mapping, arch: str, origin: str) -> float:
    """The channel-width factor of the weights (1.0 for the reference nets)."""
    if "googlenet" in arch:
        first, base = "conv1_7x7_s2", 64
    elif "resnet" in arch:
        first, base = "conv1", 64
    elif arch in ("fcn-alexnet", "alexnet"):
        first, base = "conv1", 96
    else:
        first, base = "conv1_1", 64
    first = next((n for n in found if n.split("/")[-1] == first), first)  # a stream's own
    if first not in found:
        have = ", ".join(list(found)[:8])
        raise KeyError(f"{origin} has no layer {first!r}: not {arch} weights (it has {have}, ...)")
    return np.shape(found[first][0])[0] / base


def heads_of(found: Mapping) -> tuple[tuple[str, int], ...]:
    """SIFT Flow style suffixed heads (``score_fr_sem``, ``score_fr_geo``) and their classes."""
    heads = [(m.group(1), name) for name in found if (m := re.fullmatch(r"score_fr_(\w+)", name))]
    return tuple((head, int(np.shape(found[name][0])[0])) for head, name in heads)


def _check_scales(found: dict, module, origin: str) -> None:
    """The at-once nets' fixed Scale layers: Caffe stores the factor as a blob, one value per
    channel (``axis: 1``, ``num_axes: 1``); ours is a constant. Every value must be it; then the
    blob is consumed."""
    for t in trace_layers(module, 256, 256):
        if isinstance(t.layer, Scale) and t.name in found:
            stored = to_numpy(found.pop(t.name)[0]).ravel()
            channels = t.shape[-1]
            if stored.size not in (1, channels):
                raise ValueError(f"{origin}: layer {t.name!r} holds {stored.size} scale values "
                                 f"for {channels} channels")  # fmt: skip
            wrong = ~np.isclose(stored, t.layer.factor, rtol=1e-6, atol=0)
            if wrong.any():
                k = int(np.argmax(wrong))
                raise ValueError(
                    f"{origin}: layer {t.name!r} scales channel {k} by {stored[k]:g} "
                    f"({int(wrong.sum())} of {stored.size} values differ); the net scales by "
                    f"{t.layer.factor:g}"
                )


def import_layers(
    found: Mapping,
    arch: str,
    origin: str,
    *,
    num_classes: int | None = None,
    width: float | None = None,
    align: str = "caffe",
    learnable_upsampling: bool = False,
    aux: bool | None = None,
    keep: list[int] | None = None,
    strict: bool = True,
    seed: int = 0,
    streams: tuple[str, ...] = (),
    in_channels: int = 3,
) -> Imported:
    """Params for ``build(arch, ...)`` from ``found`` (caffe layer -> blobs, source layout).

    ``num_classes`` and ``width`` default to the weights' own, ``aux`` (ResNet FCNs: build the
    auxiliary head) to whether the source has one; ``keep`` lists the source classes the
    score layers keep, in order (-1: a new class). With ``strict`` (default) a layer of the
    source the net has no place for is an error (a classifier's fc8 excepted). Layers the source
    lacks are initialised only as the surgery of the pair allows (see :func:`fresh_layers`).
    """
    found = dict(found)
    width = infer_width(found, arch, origin) if width is None else width
    dropped, heads = [], heads_of(found)
    if arch in CLASSIFIERS:
        last = "loss3_classifier" if arch == "googlenet" else "fc8"
        if last not in found:
            raise KeyError(f"{origin} has no layer {last!r}: not classifier weights for {arch}")
        classes = outputs_of(found[last][0])
        if num_classes not in (None, classes):
            raise ValueError(f"{arch} keeps the classifier's {classes} classes; got {num_classes}")
        module = build(arch, classes, width=width)
        options = {}
        for name in [n for n in found if n.startswith(AUXILIARY)]:  # GoogLeNet's side outputs
            found.pop(name)
            dropped.append(name)
    else:
        score_fr = next((n for n in found if n.split("/")[-1] == "score_fr"), None)
        if score_fr is not None:
            classes = outputs_of(found[score_fr][0])
        else:
            classes = num_classes or 21
            for name in [n for n in found if n in CLASSIFIER_LAYERS or n.startswith(AUXILIARY)]:
                if not heads:  # a classifier's own outputs, replaced by the score layers
                    found.pop(name)
                    dropped.append(name)
        if "resnet" in arch:
            options = {"aux": aux if aux is not None else "aux_score" in found}
        else:
            options = {"align": align, "learnable_upsampling": learnable_upsampling, "heads": heads,
                       "streams": tuple(streams), "in_channels": in_channels}  # fmt: skip
        module = build(arch, classes, width=width, **options)
    _check_scales(found, module, origin)
    head = [n for n in abstract_params(module) if is_head_layer(n) or n.startswith(NEW_HEADS)]
    heads_needed = fresh_layers(found, module, [n for n in head if n not in found], origin)
    init = {}
    if heads_needed and arch not in CLASSIFIERS:
        x = np.zeros((1, 64, 64, input_channels(module)), np.float32)
        init = jax.jit(module.init)(jax.random.key(seed), x)
    got = assign(found, module, origin, fresh=heads_needed, init=init.get("params"),
                 init_stats=init.get("batch_stats"))  # fmt: skip
    # Staged training replaces the source's final upsampling (FCN-32s' upscore) with its own.
    replaced = [n for n in got.unused if n.startswith("upscore") and heads_needed]
    dropped += replaced
    got = got._replace(unused=[n for n in got.unused if n not in replaced])
    if strict and got.unused:
        raise KeyError(
            f"{origin} has layers {arch} does not use: {', '.join(got.unused)} "
            "(weights of a net with more skips? choose its arch)"
        )
    params, resized = got.params, None
    if keep is not None and (arch in CLASSIFIERS or heads or num_classes is not None):
        raise ValueError(
            "keep (--keep-classes) picks an FCN's classes by themselves: not with num_classes, "
            "a classifier or a multi-head net"
        )
    if keep is not None:
        params, resized = resize_classes(params, len(keep), keep), f"{classes} -> {keep}"
        classes = len(keep)
    if num_classes is not None and num_classes != classes and arch not in CLASSIFIERS:
        if heads:
            raise ValueError("resizing the classes of a multi-head net is not supported")
        params, resized = resize_classes(params, num_classes), f"{classes} -> {num_classes}"
        classes = num_classes
    meta = {"arch": arch, "num_classes": classes, "width": width, **options}
    if keep is not None:
        meta["kept_classes"] = list(keep)
    meta["heads"] = [list(h) for h in heads]
    if "streams" in meta:
        meta["streams"] = list(meta["streams"])
    return Imported(params, got.batch_stats, meta, got.copied, got.fresh, dropped, resized)


def fresh_layers(found: Mapping, module, missing: list[str], origin: str) -> list[str]:
    """Which of the ``missing`` head layers may start fresh: all of them for a classifier's
    weights (no ``score_fr``); for an FCN's, only an earlier stage's (the source lacks this
    net's final upsampling layer) new skip scores and deconvolutions; a ResNet FCN's auxiliary
    head when asked for. Any other missing layer is an error naming it."""
    scored = [n for n in found if is_head_layer(n.split("/")[-1])]  # a stream's too
    if not scored:
        return missing
    if not any(n.split("/")[-1].startswith("score_fr") for n in found):
        raise KeyError(f"{origin} has {', '.join(scored)} but no score_fr: an incomplete FCN")
    # An earlier stage has its own final upsampling (FCN-32s' upscore), which this net lacks.
    expected = abstract_params(module)
    earlier = [n for n in found if n.startswith("upscore") and n not in expected]
    staged = isinstance(module, FCN) and bool(earlier)
    allowed = [n for n in missing if (staged and is_head_layer(n)) or n.startswith("aux_")]
    refused = [n for n in missing if n not in allowed]
    if refused:
        raise KeyError(
            f"{origin} has no layer {', '.join(refused)}, which the net needs (the file has no "
            "final upsampling of an earlier stage, so nothing may start fresh)"
        )
    return allowed


def read_layers(fmt: str, source: str | Path) -> dict:
    """``{caffe layer: blobs}`` of a weights file of format ``fmt`` (one of ``FORMATS``)."""
    match fmt:
        case "caffe":  # GoogLeNet's 'inception_3a/1x1' is our 'inception_3a_1x1'
            layers = read_caffemodel(source)
            return {layer.name.replace("/", "_"): layer.blobs for layer in layers if layer.blobs}
        case "torchfcn":
            return torchfcn_layers(read_state(source), str(source))
        case "torchvision" | "timm":
            state = read_state(source)
            if any(k.removeprefix("backbone.").startswith("layer1.") for k in state):
                return resnet_layers(state, str(source))
            return vgg16_layers(state, str(source))
        case _:
            raise ValueError(f"unknown weights format {fmt!r}; choose one of {FORMATS}")


def convert(fmt: str, source: str | Path, arch: str | None = None, **options) -> Imported:
    """:func:`import_layers` of a file; ``meta`` also names the source and its preprocessing.

    A ``.caffemodel`` names its own net (:func:`~.caffe_net.describe_net`): ``arch`` may be
    omitted. Loaded as its own net, every layer definition the file carries is checked against
    ours (:func:`~.caffe_net.check_definitions`); into another arch (a classifier made an FCN,
    an FCN-32s grown to 16s), the weights are transplanted and only their shapes are checked.
    """
    if fmt == "caffe":
        from fcn_jax.weights.released import convert_caffe  # it builds on import_layers

        return convert_caffe(Path(source), arch, **options)
    if arch is None:
        raise ValueError(f"--from {fmt} needs --arch: its files do not say which net they hold")
    if fmt in ("torchvision", "timm") and "alexnet" in arch:
        raise ValueError(f"--from {fmt} reads VGG16 weights; {arch} is an AlexNet net")
    imported = import_layers(read_layers(fmt, source), arch, str(source), **options)
    meta = {**imported.meta, "preprocessing": PREPROCESSING[fmt],
            "source": {"format": fmt, "file": str(source)}}  # fmt: skip
    return imported._replace(meta=meta)


def from_caffemodel(path: str | Path, arch: str, **options) -> dict:
    """Params for ``arch`` from a ``.caffemodel`` (options as :func:`import_layers`)."""
    return import_layers(read_layers("caffe", path), arch, str(path), **options).params


def from_torchvision_resnet(state, arch: str = "fcn-resnet50", **options) -> dict:
    """``{'params', 'batch_stats'}`` for ``arch`` (``fcn-resnet50/101``) from a torchvision
    ``fcn_resnet50/101`` or ImageNet ``resnet50/101`` state dict (or a file of one)."""
    if isinstance(state, str | Path):
        state = read_state(state)
    found = resnet_layers({k: to_numpy(v) for k, v in state.items()}, "ResNet state dict")
    done = import_layers(found, arch, "ResNet state dict", **options)
    return {"params": done.params, "batch_stats": done.batch_stats}


def from_torchvision_vgg16(state, arch: str = "vgg16", **options) -> dict:
    """Params for ``arch`` from a torchvision or timm VGG16 state dict (or a file of one)."""
    if isinstance(state, str | Path):
        state = read_state(state)
    found = vgg16_layers({k: to_numpy(v) for k, v in state.items()}, "VGG16 state dict")
    return import_layers(found, arch, "VGG16 state dict", **options).params
