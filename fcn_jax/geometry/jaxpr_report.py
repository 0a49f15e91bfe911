"""A jaxpr analysis as ``fcn-jax geometry`` shows it (the table of our nets, the same columns),
as JSON, and checked by autodiff (:mod:`fcn_jax.geometry.jaxpr_footprint`)."""

from __future__ import annotations

from fractions import Fraction

from fcn_jax.geometry.footprint import Check, bounding_box
from fcn_jax.geometry.jaxpr_result import Analysis, Value
from fcn_jax.geometry.table import format_rows, number


def per_axis(values: list[Fraction | int | None]):
    """One number when every axis agrees, else ``'a x b'`` (None: the primitive has none)."""
    if all(v is None for v in values):
        return None
    shown = [number(Fraction(v)) if v is not None else "-" for v in values]
    if len(set(shown)) == 1:
        return shown[0]
    return "x".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in shown)


def layer_name(value: Value) -> str:
    """A value's layer: the innermost module of its name stack, or its primitive."""
    parts = [p for p in value.name.split("/") if p]
    if parts and value.name != value.primitive:
        return parts[-1].split(".")[0]
    return value.source.split(" ")[0].rsplit("/", 1)[-1] or value.primitive  # file.py:line


def row(value: Value) -> dict:
    ops = [value.ops.get(a.label, ()) for a in value.axes]
    first = [op[0] if op else None for op in ops]
    return {
        "name": layer_name(value),
        "type": value.primitive,
        "kernel": per_axis([getattr(op, "k", None) for op in first]),
        "stride": per_axis([getattr(op, "s", None) for op in first]),
        "pad": per_axis([getattr(op, "p", None) for op in first]),
        "receptive_field": per_axis([a.field.k for a in value.axes]),
        "jump": per_axis([a.field.s for a in value.axes]),
        "offset": per_axis([a.map.shift for a in value.axes]),
        "size": [a.size for a in value.axes],
        "source": value.source,
    }


def last_spatial(analysis: Analysis) -> Value:
    """The value the summary describes: the function's last output with spatial axes, else
    the last value the analysis followed."""
    outs = {id(a) for state in analysis.outputs if isinstance(state, dict) for a in state.values()}
    found = [v for v in analysis.values if any(id(a) in outs for a in v.axes)]
    return (found or analysis.values)[-1]


def analysis_table(analysis: Analysis) -> dict:
    top = last_spatial(analysis)
    return {
        "input_shape": list(analysis.input_shape),
        "spatial_axes": list(analysis.spatial_axes),
        "output": layer_name(top),
        "receptive_field": per_axis([a.field.k for a in top.axes]),
        "max_stride": per_axis([a.field.s for a in top.axes]),
        "layers": [row(v) for v in analysis.rows()],
        "meetings": [
            {
                "name": layer_name(m.value),
                "type": m.value.primitive,
                "source": m.value.source,
                "aligned": m.aligned,
                "offsets": [[None if c is None else number(c) for c in o] for o in m.offsets()],
            }
            for m in analysis.meetings
        ],
        "unmapped": [vars(s) for s in analysis.unmapped],
        "ended": [vars(s) for s in analysis.ended],
    }


def format_analysis(table: dict) -> str:
    """The table, then a summary line, then one line per misaligned meeting, unmapped
    primitive and point where the analysis ended."""
    text = format_rows(table["layers"])
    shape = "x".join(map(str, table["input_shape"]))
    met = table["meetings"]
    bad = [m for m in met if not m["aligned"]]
    text += ["", f"input {shape} (spatial axes {', '.join(map(str, table['spatial_axes']))}); "
             f"{table['output']} receptive field {table['receptive_field']}, max stride "
             f"{table['max_stride']}; {len(met)} paths meet, {len(bad)} misaligned"]  # fmt: skip
    for m in bad:
        fixes = "; ".join(
            "strides differ: no shift aligns them" if None in o else
            f"operand {n + 1}: read unit j + ({', '.join(map(str, o))}) to align it"
            for n, o in enumerate(m["offsets"])
        )  # fmt: skip
        text.append(f"misaligned: {m['name']} ({m['type']}, {m['source']}): {fixes}")
    for s in table["unmapped"]:
        text.append(f"unmapped: {s['primitive']} in {s['name']} at {s['source']}: {s['reason']}")
    for s in table["ended"]:
        text.append(f"analysis ends: {s['name']} ({s['primitive']}, {s['source']}): "
                    f"{s['reason']}")  # fmt: skip
    return "\n".join(text)


def corners(value: Value) -> list[tuple[int, ...]]:
    """The corner units and the centre of a value (2 spatial axes: 5 units)."""
    import itertools

    sizes = [a.size for a in value.axes]
    units = set(itertools.product(*[sorted({0, n - 1}) for n in sizes]))
    units.add(tuple(n // 2 for n in sizes))
    return sorted(units)


def verify_analysis(analysis: Analysis, inputs: list) -> list[Check]:
    """Autodiff checks: the corners and centre of every value that changed the geometry or
    where paths met, and of the last output, must see exactly their predicted box; ``inputs``
    are the function's flattened arguments."""
    from fcn_jax.geometry.jaxpr_footprint import measure

    probes = [(v.key, u) for v in analysis.rows() if v.key for u in corners(v)]
    masks = measure(analysis, probes, inputs)
    values = {v.key: v for v in analysis.values}
    checks = []
    for (key, unit), mask in zip(probes, masks, strict=True):
        value = values[key]
        boxes = [a.box(u) for a, u in zip(value.axes, unit, strict=True)]
        predicted = None if None in boxes else tuple(boxes)
        box = bounding_box(mask) if mask.ndim == 2 else None
        filled = box is None or bool(mask[box[0][0] : box[0][1] + 1,
                                          box[1][0] : box[1][1] + 1].all())  # fmt: skip
        checks.append(Check(layer_name(value), unit, predicted, box, filled))
    return checks
