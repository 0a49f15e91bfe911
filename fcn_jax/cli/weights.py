"""``fcn-jax convert`` and ``fcn-jax predict``: importing weights and using them."""

from __future__ import annotations

import argparse
import sys

from fcn_jax.cli.training import restore


def run_predict(args: argparse.Namespace) -> int:
    from fcn_jax.predict import segment as predict
    from fcn_jax.weights.bundle import BundleError

    if (args.workdir is None) == (args.weights is None):
        raise SystemExit("fcn-jax predict: give exactly one of --workdir and --weights")
    if args.weights is not None:
        try:
            predictor = predict.from_weights(args.weights)
        except BundleError as err:
            raise SystemExit(f"fcn-jax predict: {err}") from err
    else:
        spec, model, variables, _ = restore(args.workdir, args.checkpoint)
        if spec.inputs != "color":
            raise SystemExit(
                f"fcn-jax predict: this net takes {spec.inputs!r} inputs; predict "
                "reads colour image files only"
            )
        predictor = predict.from_spec(spec, model, variables, args.workdir)
    norm = predictor.normalisation
    print(f"preprocessing: {norm.describe()} ({predictor.origin})", file=sys.stderr)
    try:
        if args.depth and args.hha:
            raise ValueError("give --depth or --hha, not both")
        others = args.depth or args.hha
        written = predict.predict_images(predictor, args.images, args.out, args.heatmap, others)
    except ValueError as err:
        raise SystemExit(f"fcn-jax predict: {err}") from err
    for path in written:
        print(path)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from fcn_jax.weights import convert, save_bundle

    keep = None
    if args.keep_classes:
        try:
            keep = [int(c) for c in args.keep_classes.split(",")]
        except ValueError as err:
            raise SystemExit(f"fcn-jax convert: --keep-classes: {err}") from err
    try:
        done = convert(
            args.format, args.source, args.arch, num_classes=args.num_classes,
            align=args.align, learnable_upsampling=args.learnable_upsampling, keep=keep,
        )  # fmt: skip
        params, meta = done.params, done.meta
    except (KeyError, ValueError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f"fcn-jax convert: {message}") from err
    if args.class_names:
        names = args.class_names.split(",")
        if len(names) != meta["num_classes"]:
            raise SystemExit(f"fcn-jax convert: --class-names lists {len(names)} names for "
                             f"{meta['num_classes']} classes")  # fmt: skip
        meta["class_names"] = names
    save_bundle(args.out, params, meta, done.batch_stats)
    print(f"{args.format} {args.source} -> {args.out} ({meta['arch']}, "
          f"{meta['num_classes']} classes, width {meta['width']:g})")  # fmt: skip
    shown = ", ".join(done.copied[:12]) + (", ..." if len(done.copied) > 12 else "")
    print(f"  copied {len(done.copied)} layers: {shown}")
    if done.fresh:
        print(f"  initialised {len(done.fresh)} new layers: {', '.join(done.fresh)}")
    if done.dropped:
        print(f"  dropped: {', '.join(done.dropped)}")
    if done.resized:
        print(f"  score layers resized: {done.resized} classes")
    print(f"  preprocessing: {meta['preprocessing'].describe()}")
    if meta["source"].get("definitions_checked"):
        print(f"  every layer definition in the file matches our {meta['arch']}")
    if meta.get("inputs", "color") != "color":
        print(
            f"  inputs: {meta['inputs']} ({meta['in_channels']} channels"
            f"{' per stream' if meta.get('streams') else ''})"
        )
    return 0
