"""What a ``.caffemodel`` says of its own net: which of our nets it is, and how its layer names
map to our params.

:func:`describe_net` infers arch, classes, heads, input streams and input channels from the
layer names and blob shapes (a file of weights only has them too) and, where the file has it,
the reference's data layer; :mod:`.caffe_check` then compares the layer definitions.

Names: a late-fusion stream's layers carry the stream as a suffix in the reference
(``conv1_1color``) and live under the stream's name here (``color/conv1_1``); early fusion's
first layer ``conv1_1_bgrd`` is our ``conv1_1`` on 4 channels; GoogLeNet's ``/`` is ``_``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from fcn_jax.weights.assign import outputs_of
from fcn_jax.weights.caffemodel import CaffeLayer

EARLY_FUSION_FIRST = "conv1_1_bgrd"
# Layer types that compute nothing our net has: inputs, losses, bookkeeping.
OUTSIDE = {
    "Data",
    "Python",
    "Input",
    "ImageData",
    "MemoryData",
    "DummyData",
    "HDF5Data",
    "WindowData",
    "SoftmaxWithLoss",
    "Accuracy",
    "Softmax",
    "Split",
    "Silence",
    "EuclideanLoss",
    "SigmoidCrossEntropyLoss",
}


class CaffeNet(NamedTuple):
    """The net a file holds, as our :func:`~fcn_jax.models.build` options."""

    arch: str
    num_classes: int
    heads: tuple[tuple[str, int], ...]
    streams: tuple[str, ...]
    inputs: str  # 'color', 'hha', 'color+depth' or 'color|hha' (as the data pipeline names them)
    in_channels: int
    data_layer: str = ""  # the reference's Python data layer, where the file names one


def data_layer(layers: list[CaffeLayer]) -> tuple[str, str]:
    """(class, param_str) of the file's Python data layer, or empty strings."""
    for layer in layers:
        python = (layer.params or {}).get("python_param")
        if layer.type == "Python" and python:
            return python["layer"], python["param_str"]
    return "", ""


def our_name(name: str, streams: tuple[str, ...]) -> str:
    """The name of Caffe layer ``name`` in our params."""
    name = name.replace("/", "_")
    if name == EARLY_FUSION_FIRST:
        return "conv1_1"
    for stream in streams:
        if name.endswith(stream) and name != stream and not name.startswith("score_fused"):
            return f"{stream}/{name[: -len(stream)]}"
    return name


def stream_suffixes(names: list[str]) -> tuple[str, ...]:
    """Late fusion's streams: the suffixes of several ``conv1_1<stream>`` layers, in file order."""
    found = [n[len("conv1_1") :] for n in names if n.startswith("conv1_1") and n != "conv1_1"]
    found = [s for s in found if is_stream_name(s)]
    return tuple(found) if len(found) > 1 else ()


def is_stream_name(suffix: str) -> bool:
    """A suffix that names an input (``color``), not early fusion's ``_bgrd``."""
    return bool(re.fullmatch(r"[A-Za-z]\w*", suffix))


def describe_net(layers: list[CaffeLayer], origin: str) -> CaffeNet:
    """Arch, classes, heads, streams and inputs of the net in a file, from its layer names and
    blob shapes (a file of weights only has them too)."""
    weighted = {layer.name.replace("/", "_"): layer for layer in layers if layer.blobs}
    names = list(weighted)
    streams = stream_suffixes(names)
    heads = tuple(
        (m.group(1), outputs_of(weighted[n].blobs[0]))
        for n in names
        if (m := re.fullmatch(r"score_fr_([a-z]\w*)", n))
    )
    suffixes = tuple(f"_{head}" for head, _ in heads)
    plain = {strip(our_name(n, streams).split("/")[-1], suffixes) for n in names}
    first = "conv1_1" + (streams[0] if streams else "")
    if EARLY_FUSION_FIRST in weighted:
        first = EARLY_FUSION_FIRST
    if "conv1_7x7_s2" in plain:
        family = "googlenet"
    elif first in weighted or "conv1_1" in plain:
        family = "vgg"
    elif "conv1" in plain and np.shape(weighted["conv1"].blobs[0])[-1] == 11:
        family = "alexnet"
    else:
        raise ValueError(
            f"{origin}: not a net this project knows (no conv1_1, conv1 11x11 or "
            f"conv1/7x7_s2 layer; it has {', '.join(names[:8])}, ...)"
        )
    scored = "score_fr" in plain or bool(heads)
    if not scored:
        classifier = {"vgg": "vgg16", "alexnet": "alexnet", "googlenet": "googlenet"}
        last = "loss3_classifier" if family == "googlenet" else "fc8"
        if last not in plain:
            raise ValueError(f"{origin}: a {family} trunk without score_fr or {last}")
        classes = outputs_of(weighted[last].blobs[0])
        return CaffeNet(classifier[family], classes, (), (), "color", 3, data_layer(layers)[0])
    if family == "alexnet":
        arch = "fcn-alexnet"
    else:
        stride = 8 if "score_pool3" in plain else 16 if "score_pool4" in plain else 32
        arch = f"fcn{stride}s" + ("-googlenet" if family == "googlenet" else "")
        if "scale_pool4" in plain:
            arch = "fcn8s-atonce"
    score = next(n for n in names if our_name(n, streams).split("/")[-1].startswith("score_fr"))
    classes = heads[0][1] if heads else outputs_of(weighted[score].blobs[0])
    in_channels = int(np.shape(weighted[first].blobs[0])[1]) if first in weighted else 3
    inputs = "|".join(streams) if streams else "color+depth" if in_channels == 4 else "color"
    kind, options = data_layer(layers)
    tops = re.search(r"'tops'\s*:\s*\[([^\]]*)\]", options)  # the NYUD layer's inputs
    if not streams and in_channels == 3 and tops and "'hha'" in tops.group(1):
        inputs = "hha"
    return CaffeNet(arch, classes, heads, streams, inputs, in_channels, kind)


def strip(name: str, suffixes: tuple[str, ...]) -> str:
    """``name`` without a head's suffix (``score_pool4_sem`` -> ``score_pool4``)."""
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def has_definitions(layers: list[CaffeLayer]) -> bool:
    return any(layer.top or layer.params for layer in layers)
