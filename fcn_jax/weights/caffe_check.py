"""Checking a ``.caffemodel``'s layer definitions against the net our geometry derives.

:func:`check_definitions` takes our net (built for what :func:`.caffe_net.describe_net` found)
and compares each definition in the file with the layer our net runs under that name: type,
num_output, kernel, stride, pad, group, dilation, bias; pooling method and rounding; crop axis,
offset and the two blobs it aligns; Eltwise operation and coefficients; Scale axis; LRN
constants; dropout ratio. A difference is refused with the layer, the field and both values.
"""

from __future__ import annotations

import math

from fcn_jax.models import trace_layers
from fcn_jax.models.layers import (
    LRN,
    AvgPool,
    Concat,
    Conv,
    Crop,
    Deconv,
    Dropout,
    MaxPool,
    ReLU,
    Scale,
    Sum,
)
from fcn_jax.weights.caffe_net import OUTSIDE, CaffeNet, our_name
from fcn_jax.weights.caffemodel import CaffeLayer
from fcn_jax.weights.definitions import spatial


def check_definitions(
    layers: list[CaffeLayer], module, net: CaffeNet, origin: str, dropped: tuple[str, ...] = ()
) -> None:
    """Refuse, naming the layer, the field and both values, any definition in ``layers`` that
    differs from the layer ``module`` runs under the same name, and any computing layer our net
    does not have, but those whose names start with one of ``dropped`` (GoogLeNet's auxiliary
    classifiers)."""
    ours = {t.name: t.layer for t in trace_layers(module, 500, 500)}
    producers = Producers(layers, net.streams)
    for layer in layers:
        name = our_name(layer.name, net.streams).split("/")[-1]
        if layer.type in OUTSIDE or producers.is_input(layer) or name.startswith(dropped):
            continue
        if name not in ours:
            raise ValueError(
                f"{origin}: layer {layer.name!r} ({layer.type}) has no counterpart "
                f"in our {net.arch}"
            )
        for field, theirs, mine in compare(layer, ours[name], producers):
            if not same(theirs, mine):
                raise ValueError(
                    f"{origin}: layer {layer.name!r} has {field} {theirs}; our {net.arch} "
                    f"derives {mine}"
                )


class Producers:
    """Which layer computes each blob: the first to write it (in-place layers such as ReLU write
    their bottom again), looking through Split layers; the net's input is 'data'."""

    def __init__(self, layers: list[CaffeLayer], streams: tuple[str, ...]):
        self.by_blob, self.streams = {}, streams
        for layer in layers:
            for top in layer.top:
                self.by_blob.setdefault(top, layer)

    def is_input(self, layer: CaffeLayer) -> bool:
        """A data layer, or early fusion's Concat of data layers' outputs."""
        if layer.type in OUTSIDE - {"Split"}:
            return True
        if layer.type == "Concat":
            return all(self.of(b) == "data" for b in layer.bottom)
        return False

    def of(self, blob: str) -> str:
        layer = self.by_blob.get(blob)
        if layer is None or self.is_input(layer):
            return "data"
        if layer.type == "Split":
            return self.of(layer.bottom[0])
        return our_name(layer.name, self.streams).split("/")[-1]


def same(a, b) -> bool:
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b


def compare(layer: CaffeLayer, mine, producers: Producers) -> list[tuple[str, object, object]]:
    """(field, the file's value, ours) for each definition of ``layer`` that decides what it
    computes; the type first."""
    kinds = {
        "Convolution": (Conv,),
        "InnerProduct": (Conv,),
        "Deconvolution": (Deconv,),
        "Pooling": (MaxPool,),
        "Crop": (Crop,),
        "Eltwise": (Sum,),
        "Scale": (Scale,),
        "LRN": (LRN,),
        "ReLU": (ReLU,),
        "Dropout": (Dropout,),
        "Concat": (Concat,),
    }
    ours_kind = type(mine).__name__
    if not isinstance(mine, kinds.get(layer.type, ())):
        return [("type", layer.type, ours_kind)]
    p = layer.params or {}
    rows = []
    if layer.type in ("Convolution", "Deconvolution"):
        c = p.get("convolution_param", {})
        rows += [
            ("num_output", c.get("num_output"), mine.features),
            ("kernel_size", spatial(c, "kernel", 0), (mine.kernel,) * 2),
            ("stride", spatial(c, "stride", 1), (getattr(mine, "stride", 1),) * 2),
            ("pad", spatial(c, "pad", 0), (mine.pad,) * 2),
        ]
        if layer.type == "Convolution":
            rows += [
                ("group", c.get("group", 1), mine.groups),
                ("dilation", (c.get("dilation") or (1,))[0], mine.dilation),
                ("bias_term", c.get("bias_term", True), mine.use_bias),
            ]
        else:
            rows += [("group", c.get("group", 1), 1), ("bias_term", c.get("bias_term"), False)]
    elif layer.type == "InnerProduct":
        rows.append(
            ("num_output", p.get("inner_product_param", {}).get("num_output"), mine.features)
        )
    elif layer.type == "Pooling":
        c = p.get("pooling_param", {})
        rows += [
            ("pool", c.get("pool", "MAX"), "AVE" if isinstance(mine, AvgPool) else "MAX"),
            ("kernel_size", spatial(c, "kernel", 0), (mine.kernel,) * 2),
            ("stride", spatial(c, "stride", 1), (mine.stride,) * 2),
            ("pad", spatial(c, "pad", 0), (mine.pad,) * 2),
            ("rounding", "ceil", "ceil" if mine.ceil else "floor"),
        ]
    elif layer.type == "Crop":
        c = p.get("crop_param", {})
        offsets = c.get("offset") or (0,)
        rows += [
            ("crop axis", c.get("axis", 2), 2),
            ("crop offset", offsets * (2 // len(offsets)), (mine.offset,) * 2),
            ("bottoms", tuple(producers.of(b) for b in layer.bottom), (mine.bottom, mine.like)),
        ]
    elif layer.type == "Eltwise":
        c = p.get("eltwise_param", {})
        n = len(layer.bottom)
        rows += [
            ("operation", c.get("operation", "SUM"), "SUM"),
            ("coeff", tuple(c.get("coeff") or (1.0,) * n), tuple(mine.coeffs or (1.0,) * n)),
        ]
    elif layer.type == "Scale":
        c = p.get("scale_param", {})
        rows += [("axis", c.get("axis", 1), 1), ("bias_term", c.get("bias_term", False), False)]
    elif layer.type == "LRN":
        c = p.get("lrn_param", {})
        rows += [
            ("local_size", c.get("local_size", 5), mine.size),
            ("alpha", c.get("alpha", 1.0), mine.alpha),
            ("beta", c.get("beta", 0.75), mine.beta),
            ("k", c.get("k", 1.0), mine.k),
            ("norm_region", c.get("norm_region", "ACROSS_CHANNELS"), "ACROSS_CHANNELS"),
        ]
    elif layer.type == "Dropout":
        rows.append(
            ("dropout_ratio", p.get("dropout_param", {}).get("dropout_ratio", 0.5), mine.rate)
        )
    elif layer.type == "ReLU":
        rows.append(("negative_slope", p.get("relu_param", {}).get("negative_slope", 0.0), 0.0))
    elif layer.type == "Concat":
        rows.append(("axis", p.get("concat_param", {}).get("axis", 1), 1))
    return rows
