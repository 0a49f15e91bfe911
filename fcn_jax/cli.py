"""``fcn-jax``: the command line. Options are read here and nowhere below."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

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


def _load_config(overrides: list[str]):
    """An ml_collections config: ``--config FILE`` (default: the built-in synthetic run) and
    ``--config.FIELD=VALUE`` overrides, parsed by ml_collections' own flags."""
    from absl import flags
    from ml_collections import config_flags

    from fcn_jax import default_config

    if not any(a == "--config" or a.startswith("--config=") for a in overrides):
        overrides = [f"--config={default_config.__file__}", *overrides]
    argv = ["fcn-jax train", *overrides]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "config file", flag_values=values, lock_config=True, sys_argv=argv
    )
    try:
        values(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as err:
        raise SystemExit(f"fcn-jax train: bad config option: {err}") from err
    return values.config


def _train(args: argparse.Namespace, overrides: list[str]) -> int:
    from fcn_jax.checkpoint import CheckpointError, CheckpointMismatch
    from fcn_jax.data.datasets import DatasetNotReady
    from fcn_jax.data.folder import FolderError
    from fcn_jax.interrupt import TrainingInterrupted
    from fcn_jax.parallel import start_distributed, wants_distributed
    from fcn_jax.train import train_and_evaluate

    config = _load_config(overrides)
    if wants_distributed(args.coordinator, args.num_processes, args.process_id):
        start_distributed(args.coordinator, args.num_processes, args.process_id)
        if args.workdir is None:
            raise SystemExit("fcn-jax train: --workdir (one shared directory) is required with "
                             "several processes")  # fmt: skip
    workdir = args.workdir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"workdir: {workdir}")
    if config.get("compilation_cache", True):  # a restarted run loads, not recompiles
        import jax

        jax.config.update("jax_compilation_cache_dir", str(Path(workdir) / "xla_cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # every step shape
    try:
        result = train_and_evaluate(config, workdir)
    except TrainingInterrupted as stopped:
        print(f"fcn-jax train: {stopped}", file=sys.stderr)
        return stopped.exit_code
    except (
        DatasetNotReady,
        FolderError,
        NotImplementedError,
        CheckpointMismatch,
        CheckpointError,
        FloatingPointError,
    ) as err:
        raise SystemExit(f"fcn-jax train: {err}") from err
    print(format_scores(result, _class_names(workdir)))
    return 0


def _class_names(workdir) -> list[str] | None:
    from fcn_jax.checkpoint import Checkpoints

    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    return checkpoints.model(checkpoints.resolve("latest"))["class_names"]


def format_scores(result: dict, class_names: list[str] | None = None) -> str:
    """The four metrics and a per-class IU table."""
    lines = [f"{key:>15}  {result[key]:.4f}" for key in SCORE_KEYS]
    names = class_names or [str(i) for i in range(len(result["per_class_iu"]))]
    lines += ["", f"{'class':>15}  IU"]
    for name, iu in zip(names, result["per_class_iu"], strict=True):
        lines.append(f"{name:>15}  {'absent' if iu is None else f'{iu:.4f}'}")
    return "\n".join(lines)


SCORE_KEYS = ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu")


def _restore(workdir: str, which: str):
    """(model description, model, params, step) of a training workdir's checkpoint."""
    from fcn_jax.checkpoint import Checkpoints
    from fcn_jax.describe import model_from

    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    try:
        step = checkpoints.resolve(which)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"fcn-jax: {err}") from err
    description = checkpoints.model(step)
    return description, model_from(description), checkpoints.restore_params(step), step


def _eval(args: argparse.Namespace) -> int:
    from fcn_jax.data.datasets import open_dataset
    from fcn_jax.describe import dataset_options, eval_parts, scores_by_task
    from fcn_jax.steps import evaluate

    description, model, params, step = _restore(args.workdir, args.checkpoint)
    config = json.loads((Path(args.workdir) / "config.json").read_text())
    dataset = open_dataset(description["dataset"], **dataset_options(config))
    val = [dataset.val[i] for i in range(len(dataset.val))]
    eval_step, prep, targets = eval_parts(model, description)
    confusions, _ = evaluate(eval_step, params, val, prep, targets)
    result = scores_by_task(confusions, description.get("tasks", ("semantic",)))
    result["step"] = step
    (Path(args.workdir) / f"eval_{step:06d}.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"checkpoint step {step}, {len(val)} validation images")
        print(format_scores(result, description["class_names"]))
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from fcn_jax.data.pipeline import preprocess
    from fcn_jax.steps import make_predict
    from fcn_jax.viz import label_png, overlay

    description, model, params, _ = _restore(args.workdir, args.checkpoint)
    if description.get("inputs", "color") != "color":
        raise SystemExit(
            f"fcn-jax predict: this net takes {description['inputs']!r} inputs; predict reads "
            "colour image files only"
        )
    predict = make_predict(model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in map(Path, args.images):
        try:
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB"))
        except (OSError, ValueError) as err:
            raise SystemExit(f"fcn-jax predict: cannot read image {path}: {err}") from err
        x = preprocess(rgb, description["mean_rgb"])[None]
        label = np.asarray(predict(params, x))[0]
        label_png(label).save(out / f"{path.stem}.png")
        Image.fromarray(overlay(rgb, label)).save(out / f"{path.stem}_overlay.png")
        print(f"{path} -> {out / (path.stem + '.png')}")
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    from fcn_jax.data.encoded import BadExample
    from fcn_jax.data.prepared import DatasetNotReady, info, prepare

    try:
        path = prepare(args.name, args.manual_dir, args.data_dir)
    except (BadExample, FileNotFoundError, DatasetNotReady) as err:
        raise SystemExit(f"fcn-jax data prepare: {err}") from err
    counts = ", ".join(f"{k} {v}" for k, v in info(args.name, args.data_dir)["splits"].items())
    print(f"prepared {args.name} in {path}: {counts}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from fcn_jax.data.prepared import DatasetNotReady, info

    try:
        found = info(args.name, args.data_dir)
    except DatasetNotReady as err:
        raise SystemExit(f"fcn-jax data info: {err}") from err
    if args.json:
        print(json.dumps(found))
    else:
        print(f"{found['name']}: " + ", ".join(f"{k} {v}" for k, v in found["splits"].items()))
        print("classes: " + ", ".join(found["class_names"]))
    return 0


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

    train = commands.add_parser(
        "train",
        help="train (no arguments: the built-in synthetic run)",
        description="Options other than --workdir are ml_collections config flags: "
        "--config FILE and --config.FIELD=VALUE.",
    )
    train.add_argument("--workdir", help="output directory (default runs/<timestamp>)")
    hosts = train.add_argument_group(
        "several processes (jax.distributed; also read from JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES, JAX_PROCESS_ID)"
    )
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    hosts.add_argument("--num-processes", type=int, metavar="N")
    hosts.add_argument("--process-id", type=int, metavar="I")
    train.set_defaults(run=_train)

    ev = commands.add_parser("eval", help="score a trained checkpoint on the validation split")
    ev.add_argument("--workdir", required=True)
    ev.add_argument("--checkpoint", default="best", help="best, latest or a step (best)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(run=_eval)

    pred = commands.add_parser("predict", help="label PNGs and overlays for images")
    pred.add_argument("--workdir", required=True)
    pred.add_argument("--checkpoint", default="best", help="best, latest or a step (best)")
    pred.add_argument("images", nargs="+", metavar="IMAGE")
    pred.add_argument("--out", required=True, metavar="OUTDIR")
    pred.set_defaults(run=_predict)

    data = commands.add_parser("data", help="prepare and inspect the paper's datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    prep = data_commands.add_parser("prepare", help="build a dataset from its official files")
    prep.add_argument("name")
    prep.add_argument("--manual-dir", required=True, help="folder with the official files")
    prep.add_argument("--data-dir", help="output (default ~/tensorflow_datasets)")
    prep.set_defaults(run=_data_prepare)
    show = data_commands.add_parser("info", help="splits, example counts and class names")
    show.add_argument("name")
    show.add_argument("--data-dir", help="where it was prepared (default ~/tensorflow_datasets)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_data_info)
    return main


def main(argv: list[str] | None = None) -> int:
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)  # Orbax is chatty at WARNING
    args, rest = parser().parse_known_args(argv)
    if args.command == "train":
        return _train(args, rest)
    if rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "geometry" and (len(args.size) > 2 or min(args.size) < 1):
        parser().error("--size takes one or two positive integers")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
