"""The geometry table of a net (``fcn-jax geometry``): rows, crops, JSON and text forms."""

from __future__ import annotations

import re

from flax import linen as nn

from fcn_jax.geometry import Shift, Trace, Upsample, Window
from fcn_jax.geometry.footprint import Check, check_units, probe_units
from fcn_jax.geometry.table import format_rows, number
from fcn_jax.models.fcn import trace_layers
from fcn_jax.models.layers import Crop


def traces(module: nn.Module, height: int, width: int) -> dict[str, Trace]:
    """The geometry the forward pass derives for every named layer, at an input size."""
    return {t.name: t.trace for t in trace_layers(module, height, width)}


def geometry_table(module: nn.Module, height: int, width: int) -> dict:
    """Every layer's kernel, stride, pad, receptive field, jump, offset and output size.

    ``offset`` is the input coordinate of the centre of unit 0 (the map's shift); ``jump`` is
    the cumulative stride in input pixels. ``receptive_field`` and ``max_stride`` are those of
    ``score_fr``, the coarse classifier output (the paper's Table 1), or of ``fc8`` for a
    convolutionalized classifier.
    """
    rows, crops = [], {}
    for name, layer, trace, shape in trace_layers(module, height, width):
        op, kind = layer.op, type(layer).__name__
        kernel = stride = pad = None
        if isinstance(op, Window | Upsample):
            kernel, stride, pad = op.k, op.s, op.p
        if isinstance(op, Shift) and isinstance(layer, Crop):
            crops[name] = op.c
        rows.append(
            {
                "name": name,
                "type": kind,
                "kernel": kernel,
                "stride": stride,
                "pad": pad,
                "receptive_field": number(trace.field.k),
                "jump": number(trace.field.s),
                "offset": number(trace.map.shift),
                "size": list(shape[1:3]),
            }
        )

    top = coarse_scores([row["name"] for row in rows])
    scores = next(row for row in rows if row["name"] == top)
    return {
        "input_size": [height, width],
        "scores_layer": top,
        "receptive_field": scores["receptive_field"],
        "max_stride": scores["jump"],
        "crops": crops,
        "layers": rows,
    }


def format_table(table: dict) -> str:
    """Plain-text rendering of :func:`geometry_table`."""
    text = format_rows(table["layers"])
    h, w = table["input_size"]
    crops = ", ".join(f"{name}={offset}" for name, offset in table["crops"].items()) or "none"
    text += [
        "",
        f"input {h}x{w}; {table.get('scores_layer', 'score_fr')} receptive field "
        f"{table['receptive_field']}, "
        f"max stride {table['max_stride']}; crops: {crops}",
    ]
    return "\n".join(text)


def verify(module: nn.Module, height: int, width: int) -> list[Check]:
    """Autodiff checks of the algebra: corner and centre units of every pooling, classifier,
    upsampling and fusing layer and of the output must see exactly their predicted box; and the
    centre unit of ``score_fr``, when its receptive field lies inside the image, must see
    exactly the ``k`` x ``k`` box the composition rule predicts (check named 'score_fr:rule')."""
    found = traces(module, height, width)
    last = list(found)[-1]  # the net's output: an FCN's final crop, a ResNet FCN's resize
    if last != coarse_scores(list(found)):
        found["output"] = found.pop(last)
    stages = {}  # a ResNet's residual blocks by stage: the last of each is probed
    for name in found:
        if re.fullmatch(r"res\d[a-z]\d*", name):
            stages[name[3]] = name
    probes = [
        (name, unit)
        for name in found
        if name.startswith(("pool", "fc", "score_fr", "upscore", "fuse"))
        or name == "output"
        or name in stages.values()
        for unit in probe_units(found[name])
    ]
    checks = check_units(module, found, height, width, probes)
    top = coarse_scores(list(found))
    trace = found[top]
    centre = tuple(n // 2 for n in trace.size)
    predicted = rule_box(trace, *centre)
    inside = all(lo >= 0 and hi < n for (lo, hi), n in zip(predicted, (height, width), strict=True))
    if inside:
        measured = next(c for c in checks if c.layer == top and c.unit == centre)
        checks.append(Check(f"{top}:rule", centre, predicted, measured.measured, measured.is_box))
    return checks


def coarse_scores(names: list[str]) -> str:
    """The layer of coarse class scores: an FCN's ``score_fr``, a classifier's ``fc8``
    (GoogLeNet's ``loss3_classifier``)."""
    return next((n for n in ("score_fr", "loss3_classifier") if n in names), "fc8")


def rule_box(trace: Trace, i: int, j: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The box the composition rule predicts for unit (i, j), ignoring image borders:
    ``k`` pixels centred on the unit's image of the coordinate map."""
    half = (trace.field.k - 1) / 2
    (top, bottom), (left, right) = ((trace.map(u) - half, trace.map(u) + half) for u in (i, j))
    return (number(top), number(bottom)), (number(left), number(right))
