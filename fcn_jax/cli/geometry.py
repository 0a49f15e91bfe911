"""``fcn-jax geometry``: the per-layer geometry table, its autodiff check and footprint plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fcn_jax.models import build

VERIFY_WIDTH = 1 / 64
DEFAULT_LAYER = "score_fr"


def run_geometry(args: argparse.Namespace) -> int:
    from fcn_jax.models import report

    if args.fn:
        from fcn_jax.cli.geometry_fn import run_fn

        return run_fn(args)
    height, width = args.size if len(args.size) == 2 else args.size * 2
    check_plot_options(args)
    module = build(args.arch, 21, align=args.align)
    table = _sized(args, lambda: report.geometry_table(module, height, width))
    unit = _plotted_unit(args, height, width) if args.plot else None  # before any output
    table = {"arch": args.arch, "align": args.align, **table}
    failed = []
    if args.verify:
        narrow = build(args.arch, 1, align=args.align, width=VERIFY_WIDTH)
        checks = report.verify(narrow, height, width)
        failed = [c for c in checks if not c.ok]
        table["verify"] = {
            "checked": len(checks),
            "failed": [
                {"layer": c.layer, "unit": c.unit, "predicted": c.predicted, "measured": c.measured}
                for c in failed
            ],
        }
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print(f"{args.arch} ({args.align} alignment)")
        print(report.format_table(table))
        if args.verify:
            verdict = "all agree" if not failed else f"{len(failed)} DISAGREE"
            print(f"autodiff check: {len(checks)} units measured, {verdict}")
            for c in failed:
                print(f"  {c.layer} unit {c.unit}: predicted {c.predicted}, measured {c.measured}")
    if args.plot:
        _plot(args, height, width, unit)
    return 1 if failed else 0


def check_plot_options(args: argparse.Namespace) -> None:
    """--plot into an existing folder, as a format matplotlib writes: checked before any
    work."""
    from fcn_jax.viz import saved_formats

    if not args.plot:
        return
    path = Path(args.plot)
    if not path.parent.is_dir():
        raise SystemExit(f"fcn-jax geometry: --plot {args.plot}: no folder {path.parent}")
    if path.suffix.lower() not in saved_formats():
        raise SystemExit(f"fcn-jax geometry: --plot {args.plot}: not an image file name; "
                         "give one ending in .png (or .svg, .pdf, .jpg, ...)")  # fmt: skip
    if path.is_dir():
        raise SystemExit(f"fcn-jax geometry: --plot {args.plot} is a folder; give a file name")


def _sized(args: argparse.Namespace, work):
    """``work()``, with a net's 'too small' error as one line naming --size."""
    try:
        return work()
    except ValueError as err:
        if "too small" not in str(err):
            raise
        size = " ".join(map(str, args.size))
        raise SystemExit(f"fcn-jax geometry: {args.arch} at --size {size}: {err}") from err


def _plotted_unit(args: argparse.Namespace, height: int, width: int):
    """(layer, its trace, the unit) --plot draws, checked against the net's layers."""
    from fcn_jax.models.report import traces

    name = args.layer or DEFAULT_LAYER
    narrow = build(args.arch, 1, align=args.align, width=VERIFY_WIDTH)
    found = _sized(args, lambda: traces(narrow, height, width))
    if name not in found:
        raise SystemExit(f"fcn-jax geometry: --layer {name!r}: {args.arch} has no such layer; "
                         f"it has {', '.join(found)}")  # fmt: skip
    trace = found[name]
    unit = tuple(args.unit) if args.unit else tuple(n // 2 for n in trace.size)
    if not all(0 <= u < n for u, n in zip(unit, trace.size, strict=True)):
        raise SystemExit(f"fcn-jax geometry: --unit {' '.join(map(str, unit))} is outside "
                         f"{name}'s {trace.size[0]}x{trace.size[1]} grid")  # fmt: skip
    return name, trace, unit


def _field(trace, unit) -> tuple[tuple[float, float], tuple[float, float]]:
    """The unit's whole receptive field (``f_ks``'s window about its centre), inclusive input
    pixels ``((top, bottom), (left, right))``; it may reach past the input."""
    half = (trace.field.k - 1) / 2
    return tuple((float(trace.map(u) - half), float(trace.map(u) + half)) for u in unit)


def _plot(args: argparse.Namespace, height: int, width: int, plotted) -> None:
    from fcn_jax.geometry.footprint import measure_supports
    from fcn_jax.viz import footprint_figure, save

    name, trace, unit = plotted
    narrow = build(args.arch, 1, align=args.align, width=VERIFY_WIDTH)
    layer = "output" if name == "score" else name
    mask = measure_supports(narrow, height, width, [(layer, unit)])[0]
    title = (f"{args.arch} ({args.align} alignment): what {name} unit {unit} sees "
             f"of a {height}x{width} input")  # fmt: skip
    try:
        save(footprint_figure(mask, trace.box(*unit), title, _field(trace, unit)), args.plot)
    except OSError as err:
        raise SystemExit(f"fcn-jax geometry: --plot {args.plot}: cannot write it ({err})") from err
    print(f"wrote {args.plot}", file=sys.stderr)
