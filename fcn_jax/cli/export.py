"""``fcn-jax export``: a workdir's or converted weights' net as one serialized file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fcn_jax.cli.training import restore


def check_request(args: argparse.Namespace) -> None:
    """Refuse a bad combination of options in one line, before any JAX work."""
    if (args.workdir is None) == (args.weights is None):
        raise SystemExit("fcn-jax export: give exactly one of --workdir and --weights")
    if args.dynamic and (args.height or args.width):
        raise SystemExit("fcn-jax export: give --height H --width W or --dynamic, not both")
    if not args.dynamic and not (args.height and args.width):
        raise SystemExit("fcn-jax export: give --height H and --width W (or --dynamic)")
    parent = Path(args.out).resolve().parent
    if Path(args.out).is_dir() or not parent.is_dir():
        raise SystemExit(f"fcn-jax export: --out {args.out}: not a file in an existing directory")


def run_export(args: argparse.Namespace) -> int:
    from fcn_jax.export.stablehlo import SymbolicSizeError, exported, metadata
    from fcn_jax.predict import segment

    check_request(args)
    if args.format != "stablehlo":
        raise SystemExit("fcn-jax export: --format onnx is not supported yet: jax2onnx 0.17.1 "
                         "converts these nets, but onnxruntime rejects the graphs (a float "
                         "OneHot in the FCNs, an Add shape error in fcn-resnet); use --format "
                         "stablehlo")  # fmt: skip
    if args.weights is not None:
        from fcn_jax.weights.bundle import load_meta

        meta = load_meta(args.weights)
        predictor, arch, align = segment.from_weights(args.weights), meta["arch"], meta.get("align")
    else:
        spec, model, variables, _ = restore(args.workdir, args.checkpoint, "export")
        predictor = segment.from_spec(spec, model, variables, args.workdir)
        arch, align = spec.arch, spec.align
    try:
        exp = exported(predictor.model, predictor.variables, args.height, args.width)
    except SymbolicSizeError as err:
        raise SystemExit(f"fcn-jax export: {err}") from err
    meta = metadata(exp, predictor.normalisation, predictor.class_names, arch, align)
    try:
        Path(args.out).write_bytes(exp.serialize())
        Path(args.out + ".json").write_text(json.dumps(meta, indent=2))
    except OSError as err:
        raise SystemExit(f"fcn-jax export: cannot write {err.filename}: {err.strerror}") from err
    print(args.out)
    return 0
