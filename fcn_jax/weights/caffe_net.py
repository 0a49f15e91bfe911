"""What a ``.caffemodel`` says of its own net: which of our nets it is, and whether every layer
definition it carries is what our geometry derives for that net.

The authors' files carry the definitions of the net their solver trained (type, kernel, stride,
pad, group, dilation, crop axis and offset, Eltwise operation and coefficients, Scale axis,
num_output, ...). :func:`describe_net` infers arch, classes, heads, input streams and input
channels from the layer names and blob shapes; :func:`check_definitions` builds nothing new: it
takes our net and compares each definition with the layer our net runs under that name,
refusing a difference with both values named.

Names: a late-fusion stream's layers carry the stream as a suffix in the reference
(``conv1_1color``) and live under the stream's name here (``color/conv1_1``); early fusion's
first layer ``conv1_1_bgrd`` is our ``conv1_1`` on 4 channels; GoogLeNet's ``/`` is ``_``.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np

from fcn_jax.layers import LRN, Concat, Conv, Crop, Deconv, Dropout, MaxPool, ReLU, Scale, Sum
from fcn_jax.models import trace_layers
from fcn_jax.weights.caffemodel import CaffeLayer
from fcn_jax.weights.definitions import spatial

EARLY_FUSION_FIRST = "conv1_1_bgrd"
# Layer types that compute nothing our net has: inputs, losses, bookkeeping.
OUTSIDE = {"Data", "Python", "Input", "ImageData", "MemoryData", "DummyData", "HDF5Data",
           "WindowData", "SoftmaxWithLoss", "Accuracy", "Softmax", "Split", "Silence",
           "EuclideanLoss", "SigmoidCrossEntropyLoss"}  # fmt: skip


class CaffeNet(NamedTuple):
    """The net a file holds, as our :func:`~fcn_jax.models.build` options."""

    arch: str
    num_classes: int
    heads: tuple[tuple[str, int], ...]
    streams: tuple[str, ...]
    inputs: str  # 'color', 'hha', 'color+depth' or 'color|hha' (as the data pipeline names them)
    in_channels: int


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
    found = [s for s in found if s and n_ok(s)]
    return tuple(found) if len(found) > 1 else ()


def n_ok(suffix: str) -> bool:
    return suffix != EARLY_FUSION_FIRST[len("conv1_1") :] and re.fullmatch(r"[A-Za-z]\w*", suffix)


def describe_net(layers: list[CaffeLayer], origin: str) -> CaffeNet:
    """Arch, classes, heads, streams and inputs of the net in a file, from its layer names and
    blob shapes (a file of weights only has them too)."""
    weighted = {layer.name.replace("/", "_"): layer for layer in layers if layer.blobs}
    names = list(weighted)
    streams = stream_suffixes(names)
    plain = {our_name(n, streams).split("/")[-1] for n in names}
    heads = tuple(
        (m.group(1), int(weighted[n].blobs[0].shape[0]))
        for n in names
        if (m := re.fullmatch(r"score_fr_([a-z]\w*)", n))
    )
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
        raise ValueError(f"{origin}: not a net this project knows (no conv1_1, conv1 11x11 or "
                         f"conv1/7x7_s2 layer; it has {', '.join(names[:8])}, ...)")  # fmt: skip
    scored = "score_fr" in plain or bool(heads)
    if not scored:
        classifier = {"vgg": "vgg16", "alexnet": "alexnet", "googlenet": "fcn32s-googlenet"}
        last = "loss3_classifier" if family == "googlenet" else "fc8"
        if last not in plain:
            raise ValueError(f"{origin}: a {family} trunk without score_fr or {last}")
        classes = int(weighted[last].blobs[0].shape[0])
        return CaffeNet(classifier[family], classes, (), (), "color", 3)
    if family == "alexnet":
        arch = "fcn-alexnet"
    else:
        stride = 8 if "score_pool3" in plain else 16 if "score_pool4" in plain else 32
        arch = f"fcn{stride}s" + ("-googlenet" if family == "googlenet" else "")
        if "scale_pool4" in plain:
            arch = "fcn8s-atonce"
    score = next(n for n in names if our_name(n, streams).split("/")[-1].startswith("score_fr"))
    classes = heads[0][1] if heads else int(weighted[score].blobs[0].shape[0])
    in_channels = int(np.shape(weighted[first].blobs[0])[1]) if first in weighted else 3
    inputs = "|".join(streams) if streams else "color+depth" if in_channels == 4 else "color"
    bottoms = [b for layer in layers if layer.name == first for b in layer.bottom]
    if not streams and bottoms == ["hha"]:
        inputs = "hha"
    return CaffeNet(arch, classes, heads, streams, inputs, in_channels)


def has_definitions(layers: list[CaffeLayer]) -> bool:
    return any(layer.top or layer.params for layer in layers)


def check_definitions(layers: list[CaffeLayer], module, net: CaffeNet, origin: str) -> None:
    """Refuse, naming the layer, the field and both values, any definition in ``layers`` that
    differs from the layer ``module`` runs under the same name, and any computing layer our net
    does not have."""
    ours = {t.name: t.layer for t in trace_layers(module, 500, 500)}
    producers = {}
    for layer in layers:
        for top in layer.top:
            producers.setdefault(top, layer.name)
    for layer in layers:
        name = our_name(layer.name, net.streams).split("/")[-1]
        if layer.type in OUTSIDE:
            continue
        if name not in ours:
            inputs_only = all(producers.get(b) in inputs_of(layers) for b in layer.bottom)
            if layer.type == "Concat" and inputs_only:
                continue  # early fusion's data: colour and depth side by side, our input
            raise ValueError(f"{origin}: layer {layer.name!r} ({layer.type}) has no counterpart "
                             f"in our {net.arch}")  # fmt: skip
        for field, theirs, mine in compare(layer, ours[name], producers, net.streams):
            if not same(theirs, mine):
                raise ValueError(
                    f"{origin}: layer {layer.name!r} has {field} {theirs}; our {net.arch} "
                    f"derives {mine}"
                )


def inputs_of(layers: list[CaffeLayer]) -> set[str]:
    return {layer.name for layer in layers if layer.type in OUTSIDE}


def same(a, b) -> bool:
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b


def compare(layer: CaffeLayer, mine, producers: dict, streams) -> list[tuple[str, object, object]]:
    """(field, the file's value, ours) for each definition of ``layer`` that decides what it
    computes; the type first."""
    kinds = {"Convolution": (Conv,), "InnerProduct": (Conv,), "Deconvolution": (Deconv,),
             "Pooling": (MaxPool,), "Crop": (Crop,), "Eltwise": (Sum,), "Scale": (Scale,),
             "LRN": (LRN,), "ReLU": (ReLU,), "Dropout": (Dropout,), "Concat": (Concat,)}  # fmt: skip
    ours_kind = type(mine).__name__
    if not isinstance(mine, kinds.get(layer.type, ())):
        return [("type", layer.type, ours_kind)]
    p = layer.params or {}
    rows = []
    if layer.type in ("Convolution", "Deconvolution"):
        c = p.get("convolution_param", {})
        rows += [("num_output", c.get("num_output"), mine.features),
                 ("kernel_size", spatial(c, "kernel", 0), (mine.kernel,) * 2),
                 ("stride", spatial(c, "stride", 1), (getattr(mine, "stride", 1),) * 2),
                 ("pad", spatial(c, "pad", 0), (mine.pad,) * 2)]  # fmt: skip
        if layer.type == "Convolution":
            rows += [("group", c.get("group", 1), mine.groups),
                     ("dilation", (c.get("dilation") or (1,))[0], mine.dilation),
                     ("bias_term", c.get("bias_term", True), mine.use_bias)]  # fmt: skip
        else:
            rows += [("group", c.get("group", 1), 1), ("bias_term", c.get("bias_term"), False)]
    elif layer.type == "InnerProduct":
        rows.append(("num_output", p.get("inner_product_param", {}).get("num_output"),
                     mine.features))  # fmt: skip
    elif layer.type == "Pooling":
        c = p.get("pooling_param", {})
        rows += [("pool", c.get("pool", "MAX"), "MAX"),
                 ("kernel_size", spatial(c, "kernel", 0), (mine.kernel,) * 2),
                 ("stride", spatial(c, "stride", 1), (mine.stride,) * 2),
                 ("pad", spatial(c, "pad", 0), (mine.pad,) * 2),
                 ("rounding", "ceil", "ceil" if mine.ceil else "floor")]  # fmt: skip
    elif layer.type == "Crop":
        c = p.get("crop_param", {})
        offsets = c.get("offset") or (0,)
        rows += [("crop axis", c.get("axis", 2), 2),
                 ("crop offset", offsets * (2 // len(offsets)), (mine.offset,) * 2),
                 ("bottoms", tuple(our_name(producers.get(b, b), streams).split("/")[-1]
                                   for b in layer.bottom), (mine.bottom, mine.like))]  # fmt: skip
    elif layer.type == "Eltwise":
        c = p.get("eltwise_param", {})
        n = len(layer.bottom)
        rows += [("operation", c.get("operation", "SUM"), "SUM"),
                 ("coeff", tuple(c.get("coeff") or (1.0,) * n), tuple(mine.coeffs or (1.0,) * n))]
    elif layer.type == "Scale":
        c = p.get("scale_param", {})
        rows += [("axis", c.get("axis", 1), 1), ("bias_term", c.get("bias_term", False), False)]
    elif layer.type == "LRN":
        c = p.get("lrn_param", {})
        rows += [("local_size", c.get("local_size", 5), mine.size),
                 ("alpha", c.get("alpha", 1.0), mine.alpha), ("beta", c.get("beta", 0.75), mine.beta),
                 ("k", c.get("k", 1.0), mine.k),
                 ("norm_region", c.get("norm_region", "ACROSS_CHANNELS"), "ACROSS_CHANNELS")]  # fmt: skip
    elif layer.type == "Dropout":
        rows.append(("dropout_ratio", p.get("dropout_param", {}).get("dropout_ratio", 0.5),
                     mine.rate))  # fmt: skip
    elif layer.type == "ReLU":
        rows.append(("negative_slope", p.get("relu_param", {}).get("negative_slope", 0.0), 0.0))
    elif layer.type == "Concat":
        rows.append(("axis", p.get("concat_param", {}).get("axis", 1), 1))
    return rows
