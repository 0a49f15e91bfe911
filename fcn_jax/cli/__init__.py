"""``fcn-jax``: the command line. Options are read here and nowhere below. Building the parser
imports no JAX (the choices come from ``fcn_jax.names``), so every ``--help`` answers at once."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from fcn_jax.cli.config_help import field_table, run_config
from fcn_jax.cli.data import run_info, run_prepare
from fcn_jax.cli.evaluation import run_eval
from fcn_jax.cli.help_text import DESCRIPTION, EPILOG, wrapped
from fcn_jax.cli.training import format_scores, load_config, run_train
from fcn_jax.cli.weights import run_convert, run_predict
from fcn_jax.data.prepared import BUILT
from fcn_jax.names import ALIGNMENTS, ARCHS, CLASSIFIERS, FORMATS

__all__ = ["format_scores", "load_config", "main", "parser"]


def run_geometry(args: argparse.Namespace) -> int:
    from fcn_jax.cli.geometry import run_geometry as run  # imports JAX: only when it runs

    return run(args)


def run_export(args: argparse.Namespace) -> int:
    from fcn_jax.cli.export import run_export as run  # imports JAX: only when it runs

    return run(args)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="fcn-jax",
        description=wrapped(DESCRIPTION),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    main.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    debug = argparse.ArgumentParser(add_help=False)  # also accepted after the command
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser = _with_parents(commands.add_parser, debug)
    geo = commands.add_parser(
        "geometry",
        help="per-layer kernel, stride, receptive field, jump, offsets and crops of a net",
    )
    geo.add_argument("arch", nargs="?", choices=ARCHS + CLASSIFIERS, help="one of our nets")
    geo.add_argument(
        "--fn",
        metavar="MODULE:CALLABLE",
        help="any JAX function of one array instead (its jaxpr is analysed)",
    )
    geo.add_argument("--input", metavar="SHAPE", help="--fn's input shape, e.g. 1x224x224x3")
    geo.add_argument(
        "--spatial-axes",
        type=int,
        nargs="+",
        default=[1, 2],
        metavar="D",
        help="--fn's input dimensions that are spatial (1 2: NHWC)",
    )
    geo.add_argument("--align", choices=ALIGNMENTS, default="caffe")
    geo.add_argument(
        "--size", type=int, nargs="+", default=[500], metavar="N", help="input H [W] (500)"
    )
    geo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    geo.add_argument(
        "--verify", action="store_true", help="check the algebra against autodiff; exit 1 if not"
    )
    geo.add_argument("--plot", metavar="FILE.png", help="draw one unit's measured footprint")
    geo.add_argument("--layer", help="layer whose unit --plot draws (score_fr)")
    geo.add_argument("--unit", type=int, nargs=2, metavar=("I", "J"), help="unit (centre)")
    geo.set_defaults(run=run_geometry)

    train = commands.add_parser(
        "train",
        help="train (no arguments: the built-in synthetic run)",
        usage="fcn-jax train [-h] [--workdir DIR] [--config FILE] [--config.FIELD=VALUE ...]\n"
        "                     [--coordinator HOST:PORT --num-processes N --process-id I]",
        description=wrapped(
            "Train an FCN in --workdir, resuming from its latest checkpoint there. Every option "
            "but those below is a config flag: --config FILE and --config.FIELD=VALUE."
        ),
        epilog=field_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--workdir", help="output directory (default runs/<timestamp>)")
    hosts = train.add_argument_group(
        "several processes",
        "jax.distributed; also read from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and\n"
        "JAX_PROCESS_ID",
    )
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    hosts.add_argument("--num-processes", type=int, metavar="N")
    hosts.add_argument("--process-id", type=int, metavar="I")
    train.set_defaults(run=run_train)

    config = commands.add_parser(
        "config",
        help="every config field with its default and meaning (or a config's values)",
        usage="fcn-jax config [-h] [--json] [--config FILE] [--config.FIELD=VALUE ...]",
        description="Every config field with its default and meaning. With --config FILE "
        "and/or --config.FIELD=VALUE: that config's values, those not the default marked *.",
    )
    config.add_argument("--json", action="store_true", help="print one JSON object")
    config.set_defaults(run=run_config)

    ev = commands.add_parser("eval", help="score a trained checkpoint on the validation split")
    ev.add_argument("--workdir", required=True)
    ev.add_argument("--checkpoint", default="best", help="best, latest or a step (best)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--bucket", type=positive, metavar="N", help=BUCKET_HELP)
    ev.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    ev.set_defaults(run=run_eval)

    pred = commands.add_parser(
        "predict", help="label PNGs, overlays and class heatmaps for images of any size"
    )
    pred.add_argument("--workdir", help="a training run (its --checkpoint is used)")
    pred.add_argument("--weights", metavar="DIR", help="a directory from fcn-jax convert")
    pred.add_argument("--checkpoint", default="best", help="best, latest or a step (best)")
    pred.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, folders (their image files, sorted) and glob patterns",
    )
    pred.add_argument("--out", required=True, metavar="OUTDIR")
    pred.add_argument("--heatmap", metavar="CLASS", help="also write this class's score map")
    pred.add_argument(
        "--depth",
        nargs="+",
        default=[],
        metavar="PNG",
        help="early fusion (color+depth nets): a depth PNG per image, in order (files, "
        "folders or globs, like IMAGE)",
    )
    pred.add_argument(
        "--hha",
        nargs="+",
        default=[],
        metavar="PNG",
        help="late fusion (color|hha nets): an HHA image per image, in order (files, "
        "folders or globs, like IMAGE)",
    )
    pred.add_argument("--bucket", type=positive, metavar="N", help=BUCKET_HELP)
    pred.add_argument("--tile", type=int, metavar="N", help=TILE_HELP)
    pred.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    pred.set_defaults(run=run_predict)

    conv = commands.add_parser(
        "convert",
        help="import weights (.caffemodel, torchfcn, torchvision/timm VGG16) for --arch",
        description="Writes DIR/params.npz and DIR/weights.json (the net and the preprocessing "
        "the weights expect), for --config.init_from=DIR and fcn-jax predict --weights DIR.",
    )
    conv.add_argument("--from", dest="format", required=True, choices=FORMATS)
    conv.add_argument("source", metavar="SRC", help=".caffemodel, .pth, .npz or .safetensors")
    conv.add_argument(
        "--arch",
        choices=ARCHS + CLASSIFIERS,
        help="the net to load into (a .caffemodel names its own: optional there)",
    )
    conv.add_argument(
        "--num-classes", type=int, help="classes of the new score layers (default: the file's)"
    )
    conv.add_argument("--keep-classes", metavar="I,J,...", help="source classes to keep, in order")
    conv.add_argument("--class-names", metavar="A,B,...", help="stored for predict --heatmap")
    conv.add_argument("--align", choices=ALIGNMENTS, default="caffe")
    conv.add_argument("--learnable-upsampling", action="store_true")
    conv.add_argument("--out", required=True, metavar="DIR")
    conv.set_defaults(run=run_convert)

    exp = commands.add_parser(
        "export", help="a net as one file (ONNX or serialized StableHLO) mapping images to logits"
    )
    exp.add_argument("--workdir", help="a training run (its --checkpoint is used)")
    exp.add_argument("--weights", metavar="DIR", help="a directory from fcn-jax convert")
    exp.add_argument("--checkpoint", default="best", help="best, latest or a step (best)")
    exp.add_argument("--format", required=True, choices=("stablehlo", "onnx"))
    exp.add_argument("--out", required=True, metavar="FILE", help="also writes FILE.json")
    exp.add_argument("--height", type=positive, metavar="H")
    exp.add_argument("--width", type=positive, metavar="W")
    exp.add_argument("--dynamic", action="store_true", help="symbolic height and width")
    exp.add_argument("--normalise-inside", action="store_true",
                     help="normalise in the graph: feed float32 RGB 0..255 (NHWC)")  # fmt: skip
    exp.set_defaults(run=run_export)

    data = commands.add_parser(
        "data",
        help="prepare and inspect the paper's datasets",
        description=wrapped(
            f"synthetic and folder:PATH need no preparing; {', '.join(BUILT)} are built once "
            "from their official files (fcn-jax data prepare NAME --manual-dir DIR), nothing "
            "downloaded."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data_commands = data.add_subparsers(dest="data_command", required=True)
    data_commands.add_parser = _with_parents(data_commands.add_parser, debug)
    prep = data_commands.add_parser("prepare", help="build a dataset from its official files")
    prep.add_argument("name", help=", ".join(BUILT))
    prep.add_argument("--manual-dir", required=True, help="folder with the official files")
    prep.add_argument("--data-dir", help="output (default ~/tensorflow_datasets)")
    prep.set_defaults(run=run_prepare)
    show = data_commands.add_parser("info", help="splits, example counts and class names")
    show.add_argument("name", help=f"synthetic, folder:PATH, {', '.join(BUILT)}")
    show.add_argument("--data-dir", help="where it was prepared (default ~/tensorflow_datasets)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(run=run_info)
    return main


DEBUG_HELP = "on an error, show the Python traceback instead of the one-line message"
BUCKET_HELP = (
    "pad each side up to a multiple of N and crop the scores back: one compilation per bucket, "
    "not per image shape (default: every image at its own size)"
)
TILE_HELP = (
    "run each image N x N input pixels at a time, with the whole image's scores (tiles on the "
    "net's stride grid, overlapping by its receptive field): bounded memory for any image size; "
    "N at least the net's smallest tile (an error names it); not with --bucket"
)
NO_CACHE_HELP = (
    "compile without XLA's persistent cache (else WORKDIR/xla_cache, or for --weights "
    "$XDG_CACHE_HOME/fcn_jax/xla)"
)


def positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _with_parents(add_parser, *parents):
    def add(*args, **kwargs):
        return add_parser(*args, parents=[*parents, *kwargs.pop("parents", [])], **kwargs)

    return add


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every user error leaves as ``SystemExit("fcn-jax CMD: ...")``, one
    line; with ``--debug`` it is shown with its traceback (and its cause's) instead."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)  # Orbax is chatty at WARNING
    args, rest = parser().parse_known_args(argv)
    try:
        return _dispatch(args, rest)
    except SystemExit as stop:
        if args.debug and not isinstance(stop.code, int | None):
            traceback.print_exception(stop)
            return 1
        raise
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"fcn-jax {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130  # the shell's 128 + SIGINT, as fcn-jax train's


def _dispatch(args: argparse.Namespace, rest: list[str]) -> int:
    stray = [arg for i, arg in enumerate(rest) if not _config_flag(arg, rest[i - 1] if i else "")]
    if args.command in ("train", "config") and stray:
        parser().error(f"unrecognized arguments: {' '.join(stray)} (config fields are set with "
                       f"--config.FIELD=VALUE: fcn-jax config lists them)")  # fmt: skip
    if args.command == "train":
        return run_train(args, rest)
    if args.command == "config":
        return run_config(args, rest)
    if rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "geometry":
        check_geometry_source(args)
    if args.command == "geometry" and (len(args.size) > 2 or min(args.size) < 1):
        parser().error("--size takes one or two positive integers")
    if args.command == "geometry" and not args.plot and (args.layer or args.unit):
        parser().error("--layer and --unit choose the unit --plot draws: give --plot FILE.png")
    try:
        return args.run(args)
    except user_errors() as err:
        raise SystemExit(f"fcn-jax {args.command}: {err}") from err


def check_geometry_source(args: argparse.Namespace) -> None:
    """``geometry`` takes one of our nets or ``--fn`` with ``--input`` (a shape such as
    1x224x224x3), never both."""
    if (args.arch is None) == (args.fn is None):
        parser().error("geometry takes an arch or --fn MODULE:CALLABLE (one of them)")
    if args.fn is None and (args.input or args.spatial_axes != [1, 2]):
        parser().error("--input and --spatial-axes go with --fn")
    if args.fn is None:
        return
    if args.input is None:
        parser().error("--fn needs --input SHAPE, e.g. --input 1x224x224x3")
    parts = args.input.lower().split("x")
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        parser().error(f"--input {args.input!r}: give positive sizes joined by x, e.g. "
                       "1x224x224x3")  # fmt: skip
    args.input = tuple(int(p) for p in parts)
    if args.plot:
        parser().error("--plot draws one of our nets; it does not take --fn")


def _config_flag(arg: str, before: str) -> bool:
    """Whether ``arg`` is a config flag, or the value of the one ``before`` it."""
    value_of_before = before.startswith("--config") and "=" not in before
    return arg.startswith("--config") or (value_of_before and not arg.startswith("-"))


def user_errors() -> tuple[type[Exception], ...]:
    """The library's own errors, each a message naming the file or value at fault: the one
    place they become a one-line exit for the commands that do not catch them themselves."""
    from fcn_jax.data.folder import FolderError
    from fcn_jax.data.prepared import DatasetNotReady
    from fcn_jax.train.checkpoint import CheckpointError, CheckpointMismatch
    from fcn_jax.train.init_from import InitError
    from fcn_jax.weights.bundle import BundleError

    return (FolderError, DatasetNotReady, BundleError, CheckpointError, CheckpointMismatch,
            InitError)  # fmt: skip


def entry() -> None:
    """The process entry of ``fcn-jax`` and ``python -m fcn_jax.cli``: ``main``'s exit code.
    A run stopped by a signal (130, 143) has said its one line and closed its files by then;
    it ends at once, for an XLA computation that a Ctrl-C cut short can crash the interpreter's
    teardown (exit 139 after the message)."""
    code = main()
    if code in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
