"""``fcn-jax``: the command line. Options are read here and nowhere below."""

from __future__ import annotations

import argparse
import json
import sys

from fcn_jax.models import ALIGNMENTS, ARCHS, build

# Geometry does not depend on channel counts, so the autodiff check runs a net this narrow.
VERIFY_WIDTH = 1 / 64


def _geometry(args: argparse.Namespace) -> int:
    from fcn_jax import report

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
    from fcn_jax.footprint import measure_supports, traces
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


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="fcn-jax", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    geo = commands.add_parser(
        "geometry",
        help="per-layer kernel, stride, receptive field, jump, offsets and crops of a net",
    )
    geo.add_argument("arch", choices=ARCHS)
    geo.add_argument("--align", choices=ALIGNMENTS, default="caffe")
    geo.add_argument(
        "--size", type=int, nargs="+", default=[500], metavar="N", help="input H [W] (500)"
    )
    geo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    geo.add_argument(
        "--verify", action="store_true", help="check the algebra against autodiff; exit 1 if not"
    )
    geo.add_argument("--plot", metavar="FILE.png", help="draw one unit's measured footprint")
    geo.add_argument("--layer", default="score_fr", help="layer whose unit --plot draws (score_fr)")
    geo.add_argument("--unit", type=int, nargs=2, metavar=("I", "J"), help="unit (centre)")
    geo.set_defaults(run=_geometry)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "geometry" and (len(args.size) > 2 or min(args.size) < 1):
        parser().error("--size takes one or two positive integers")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
