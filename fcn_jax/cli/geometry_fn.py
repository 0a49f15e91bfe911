"""``fcn-jax geometry --fn MODULE:CALLABLE --input SHAPE``: the geometry table of any JAX
function of one array, read off its jaxpr (:func:`fcn_jax.geometry.analyze`), and with
``--verify`` its autodiff check."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path


def load(spec: str):
    """The callable ``MODULE:NAME`` names (a module path, or a ``.py`` file); the current
    directory is importable, as ``python -m`` would have it."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise SystemExit(f"fcn-jax geometry: --fn {spec}: give MODULE:CALLABLE, e.g. "
                         "mynets.unet:forward")  # fmt: skip
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SystemExit(f"fcn-jax geometry: --fn {spec}: cannot import {module_name} "
                         f"({err})") from err  # fmt: skip
    fn = module
    for part in name.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise SystemExit(f"fcn-jax geometry: --fn {spec}: {module_name} has no callable "
                         f"{name}")  # fmt: skip
    return fn


def run_fn(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    from fcn_jax.geometry import analyze
    from fcn_jax.geometry.jaxpr_report import analysis_table, format_analysis, verify_analysis

    fn = load(args.fn)
    x = jax.ShapeDtypeStruct(args.input, jnp.float32)
    try:
        analysis = analyze(fn, x, spatial_axes=tuple(args.spatial_axes))
    except ValueError as err:
        raise SystemExit(f"fcn-jax geometry: --fn {args.fn} on --input "
                         f"{'x'.join(map(str, args.input))}: {err}") from err  # fmt: skip
    table = {"fn": args.fn, **analysis_table(analysis)}
    failed, checks = [], []
    if args.verify:
        if len(analysis.spatial_axes) != 2:
            raise SystemExit("fcn-jax geometry: --verify measures 2 spatial axes")
        checks = verify_analysis(analysis, [None])  # the input is the only argument
        failed = [c for c in checks if not c.same_extent]
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
        print(f"{args.fn} on {'x'.join(map(str, args.input))}")
        print(format_analysis(table))
        if args.verify:
            verdict = "all agree" if not failed else f"{len(failed)} DISAGREE"
            print(f"autodiff check: {len(checks)} units measured, {verdict}")
            for c in failed:
                print(f"  {c.layer} unit {c.unit}: predicted {c.predicted}, measured {c.measured}")
    return 1 if failed else 0
