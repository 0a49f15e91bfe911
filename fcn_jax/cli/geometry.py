"""``fcn-jax geometry``: the per-layer geometry table, its autodiff check and footprint plot."""

from __future__ import annotations

import argparse
import json
import sys

from fcn_jax.models import build

VERIFY_WIDTH = 1 / 64


def run_geometry(args: argparse.Namespace) -> int:
    from fcn_jax.models import report

    height, width = args.size if len(args.size) == 2 else args.size * 2
    module = build(args.arch, 21, align=args.align)
    table = report.geometry_table(module, height, width)
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
        _plot(args, height, width)
    return 1 if failed else 0


def _plot(args: argparse.Namespace, height: int, width: int) -> None:
    from fcn_jax.geometry.footprint import measure_supports
    from fcn_jax.models.report import traces
    from fcn_jax.viz import footprint_image

    narrow = build(args.arch, 1, align=args.align, width=VERIFY_WIDTH)
    trace = traces(narrow, height, width)[args.layer]
    unit = tuple(args.unit) if args.unit else tuple(n // 2 for n in trace.size)
    if not all(0 <= u < n for u, n in zip(unit, trace.size, strict=True)):
        raise SystemExit(f"--unit {unit} is outside {args.layer}'s {trace.size} grid")
    layer = "output" if args.layer == "score" else args.layer
    mask = measure_supports(narrow, height, width, [(layer, unit)])[0]
    title = f"{args.arch} ({args.align}) {args.layer} unit {unit}, input {height}x{width}"
    footprint_image(mask, trace.box(*unit), title).save(args.plot)
    print(f"wrote {args.plot}", file=sys.stderr)
