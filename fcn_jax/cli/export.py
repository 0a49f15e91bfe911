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
    from fcn_jax.export.onnx import OnnxMissingError, converter
    from fcn_jax.export.stablehlo import SymbolicSizeError

    check_request(args)
    try:
        if args.format == "onnx":
            converter()  # installed, before the net is loaded
        predictor, arch, align = _source(args)
        inside = predictor.normalisation if args.normalise_inside else None
        data, meta = _exported(args, predictor, arch, align, inside)
    except (SymbolicSizeError, OnnxMissingError) as err:
        raise SystemExit(f"fcn-jax export: {err}") from err
    try:
        Path(args.out).write_bytes(data)
        Path(args.out + ".json").write_text(json.dumps(meta, indent=2))
    except OSError as err:
        raise SystemExit(f"fcn-jax export: cannot write {err.filename}: {err.strerror}") from err
    print(args.out)
    return 0


def _source(args):
    from fcn_jax.predict import segment

    if args.weights is not None:
        from fcn_jax.weights.bundle import load_meta

        meta = load_meta(args.weights)
        return segment.from_weights(args.weights), meta["arch"], meta.get("align")
    spec, model, variables, _ = restore(args.workdir, args.checkpoint, "export")
    return segment.from_spec(spec, model, variables, args.workdir), spec.arch, spec.align


def _exported(args, predictor, arch, align, inside) -> tuple[bytes, dict]:
    """The file's bytes and its metadata."""
    model, variables = predictor.model, predictor.variables
    if args.format == "stablehlo":
        from fcn_jax.export.stablehlo import exported, metadata

        exp = exported(model, variables, args.height, args.width, inside)
        meta = metadata(exp, predictor.normalisation, predictor.class_names, arch, align,
                        inside is not None)  # fmt: skip
        return exp.serialize(), meta
    from fcn_jax.export.metadata import describe
    from fcn_jax.export.onnx import onnx_model, shapes, with_metadata

    proto = onnx_model(model, variables, args.height, args.width, inside)
    meta = describe("onnx", arch, align, predictor.normalisation, inside is not None,
                    predictor.class_names, *shapes(proto))  # fmt: skip
    return with_metadata(proto, meta).SerializeToString(), meta
