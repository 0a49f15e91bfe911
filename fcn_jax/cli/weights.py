"""``fcn-jax convert`` and ``fcn-jax predict``: importing weights and using them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fcn_jax.cli.compile_cache import (
    counting_compilations,
    use_compilation_cache,
    user_cache,
    workdir_cache,
)
from fcn_jax.cli.training import restore


def run_predict(args: argparse.Namespace) -> int:
    from fcn_jax.cli.progress import image_bar, rate
    from fcn_jax.predict import segment as predict
    from fcn_jax.predict.images import expand
    from fcn_jax.predict.outputs import names
    from fcn_jax.weights.bundle import BundleError

    if (args.workdir is None) == (args.weights is None):
        raise SystemExit("fcn-jax predict: give exactly one of --workdir and --weights")
    if args.depth and args.hha:
        raise SystemExit("fcn-jax predict: give --depth or --hha, not both")
    if args.weights is not None:
        try:
            predictor = predict.from_weights(args.weights)
        except BundleError as err:
            raise SystemExit(f"fcn-jax predict: {err}") from err
    else:
        spec, model, variables, _ = restore(args.workdir, args.checkpoint, "predict")
        if spec.inputs != "color":
            raise SystemExit(
                f"fcn-jax predict: this net takes {spec.inputs!r} inputs; predict "
                "reads colour image files only"
            )
        predictor = predict.from_spec(spec, model, variables, args.workdir)
    cache = None  # set once the source is known good: no xla_cache/ in a mistyped path
    if not args.no_cache:
        where = workdir_cache(args.workdir) if args.workdir else user_cache()
        cache = use_compilation_cache(where, "predict")
    try:
        images = expand(args.images, "image")
        others = expand(args.depth, "depth image") + expand(args.hha, "HHA image")
    except ValueError as err:
        raise SystemExit(f"fcn-jax predict: {err}") from err
    norm = predictor.normalisation
    print(f"preprocessing: {norm.describe()} ({predictor.origin})", file=sys.stderr)
    per_image = max(len(names("", not predictor.classifier, 0 if args.heatmap else None)), 1)
    try:
        with counting_compilations() as compilations, image_bar("predict") as bar:
            task, started = bar.add_task("", total=len(images)), time.perf_counter()
            written = predict.predictions(predictor, images, args.out, args.heatmap, others,
                                          args.bucket or 0, args.tile)  # fmt: skip
            for n, path in enumerate(written, 1):
                print(path, flush=True)  # each as it is written: a later failure keeps the list
                bar.update(task, completed=n // per_image)
    except ValueError as err:
        raise SystemExit(f"fcn-jax predict: {err}") from err
    except OSError as err:  # writing: a full disk, a read-only directory
        raise SystemExit(f"fcn-jax predict: cannot write {err.filename}: {err.strerror}") from err
    done = rate(len(images), time.perf_counter() - started)
    print(f"fcn-jax predict: {done}; {compilations.describe(cache)}", file=sys.stderr)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from fcn_jax.weights import convert, save_bundle

    check_convert_out(args.source, args.out)
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
    try:
        save_bundle(args.out, params, meta, done.batch_stats)
    except OSError as err:
        raise SystemExit(
            f"fcn-jax convert: cannot write {err.filename or args.out}: {err.strerror}"
        ) from err
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


def check_convert_out(source: str, out: str) -> None:
    """``--out`` must be a directory (or not exist yet) whose files are not the source."""
    from fcn_jax.weights.bundle import FILES

    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise SystemExit(f"fcn-jax convert: --out {out} is a file, not a directory")
    for name in FILES:
        target = directory / name
        if Path(source).resolve() == target.resolve() or (
            target.exists() and Path(source).exists() and target.samefile(source)
        ):
            raise SystemExit(f"fcn-jax convert: writing {target} would overwrite the source "
                             f"{source}: choose another --out directory")  # fmt: skip
