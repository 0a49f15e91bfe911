"""The catalogue of bad inputs ``tests/bad_inputs.py`` runs: each case is a command line (``{tmp}``
is its own temporary folder), the files made there first, the exit codes allowed and what the
one-line message must name. A train case carries tiny settings, so a run that does not refuse
its input is stopped at its first step (and counted silent) rather than training on."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import NamedTuple

from PIL import Image

USAGE, ERROR = frozenset({2}), frozenset({1})
INTERRUPTED = frozenset({130})


class Case(NamedTuple):
    name: str
    kind: str  # config, path, damaged, format, usage, interrupt
    argv: tuple[str, ...]
    names: str  # the message must contain this (case-insensitive): the field, value or file
    files: dict[str, bytes | str | Callable] = {}  # noqa: RUF012
    codes: frozenset[int] = ERROR
    needs_run: bool = False  # {tmp}/run is a copy of the tiny trained run
    interrupt_after: float | None = None  # seconds, then SIGINT


# fmt: off
TINY = {"width": 1 / 32, "num_train": 4, "num_val": 2, "image_sizes": (64,), "batch_size": 2,
        "total_steps": 2, "eval_every": 2, "checkpoint_every": 2, "log_every": 1,
        "num_tiles": 1}
# fmt: on
RUN_FLAGS = tuple(f"--config.{k}={v!r}" for k, v in TINY.items())


def png(width: int = 32, height: int = 32, mode: str = "RGB", value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), value).save(buffer, format="PNG")
    return buffer.getvalue()


def removed(path) -> None:
    path.unlink()


def made_dir(path) -> None:
    path.mkdir()


def truncated(path) -> None:
    path.write_bytes(path.read_bytes()[:20])


def classifier_weights(path) -> None:
    """A narrow VGG16 classifier's converted weights (fcn-jax convert's directory)."""
    import jax
    import numpy as np

    from fcn_jax.data.preprocessing import CAFFE_ILSVRC
    from fcn_jax.models import build
    from fcn_jax.weights.bundle import save_bundle

    x = np.zeros((1, 224, 224, 3), np.float32)
    params = build("vgg16", 5, width=1 / 32).init(jax.random.PRNGKey(0), x)["params"]
    save_bundle(path, params, {"arch": "vgg16", "num_classes": 5, "width": 1 / 32,
                               "preprocessing": CAFFE_ILSVRC})  # fmt: skip


def folder(image: bytes = png(), mask: bytes = png(mode="L"), **extra) -> dict:
    return {"data/images/a.png": image, "data/masks/a.png": mask, **extra}


def train(name, kind, names, *flags, files=None, codes=ERROR, run=False) -> Case:
    workdir = "{tmp}/run" if run else "{tmp}/out"
    given = {flag.split("=")[0] for flag in flags}  # a field the case sets is set once
    base = tuple(flag for flag in RUN_FLAGS if flag.split("=")[0] not in given)
    argv = ("train", "--workdir", workdir, *base, *flags)
    return Case(name, kind, argv, names, files or {}, codes, run)


def bad_field(field: str, value: str, names: str | None = None) -> Case:
    short = field.rsplit(".", 1)[-1]
    name = f"train-{short}={value}"[:34]
    return train(name, "config", names or short, f"--config.{field}={value}")


CLASSES = {"data/classes.txt": "bg\nfg\n"}
STATE = "run/checkpoints/2/state/manifest.ocdbt"
ONE = ("{tmp}/a.png",)
WEIGHTS = ("predict", "--weights", "{tmp}/w", *ONE, "--out", "{tmp}/o")
PREDICT = ("predict", "--workdir", "{tmp}/run")
EXPORT = ("export", "--weights", "{tmp}/w", "--format", "onnx")

# fmt: off
CASES = [
    # train: config values (each fails before any work, or trains and is stopped: silent)
    bad_field("nofield", "1"),
    bad_field("width", "abc"),
    bad_field("width", "0"),
    bad_field("width", "-1"),
    bad_field("arch", "fcn9s", "fcn9s"),
    bad_field("dataset", "imagenet", "imagenet"),
    bad_field("batch_size", "0"),
    bad_field("total_steps", "-5"),
    bad_field("optimizer.name", "rmsprop", "rmsprop"),
    bad_field("optimizer.learning_rate", "-0.1"),
    bad_field("optimizer.lr_schedule", "cosine", "cosine"),
    bad_field("optimizer.accumulate_steps", "0"),
    bad_field("loss.normalize", "avg", "avg"),
    bad_field("loss.keep_rate", "1.5"),
    bad_field("loss.class_weights", "(1.0,)"),
    bad_field("dtype", "float16", "float16"),
    bad_field("parallel", "ddp", "ddp"),
    bad_field("num_devices", "99"),
    bad_field("kernels", "cudnn", "cudnn"),
    bad_field("keep_freed_memory", "maybe"),
    bad_field("align", "center", "center"),
    bad_field("input", "rgb", "rgb"),
    bad_field("tasks", "('depth',)", "depth"),
    bad_field("image_sizes", "()"),
    bad_field("crop_size", "-8"),
    bad_field("sampling", "shuffle", "shuffle"),
    bad_field("augment_scale", "(2.0, 0.5)"),
    bad_field("eval_every", "0"),
    bad_field("log_every", "0"),
    bad_field("keep_checkpoints", "0"),
    bad_field("bucket_multiple", "0"),
    bad_field("workers", "-1"),
    bad_field("num_val", "0"),
    bad_field("on_error", "ignore", "ignore"),
    # train: paths, files and formats
    train("train-config-missing", "path", "nope.py", "--config={tmp}/nope.py"),
    train("train-config-syntax-error", "format", "bad.py", "--config={tmp}/bad.py",
          files={"bad.py": "def get_config(:\n"}),
    train("train-config-no-get_config", "format", "plain.py", "--config={tmp}/plain.py",
          files={"plain.py": "x = 1\n"}),
    train("train-init_from-missing", "path", "none", "--config.init_from={tmp}/none"),
    train("train-init_from-garbage-npz", "damaged", "w.npz", "--config.init_from={tmp}/w.npz",
          files={"w.npz": b"not a zip file"}),
    train("train-init_from-empty-folder", "path", "empty", "--config.init_from={tmp}/empty",
          files={"empty": made_dir}),
    train("train-folder-missing", "path", "nodata", "--config.dataset=folder:{tmp}/nodata"),
    train("train-folder-bad-image", "damaged", "a.png", "--config.dataset=folder:{tmp}/data",
          files=folder(image=b"text, not a PNG")),
    train("train-folder-mask-size", "format", "a.png", "--config.dataset=folder:{tmp}/data",
          files=folder(mask=png(16, 16, "L"))),
    train("train-folder-label-value", "format", "a.png", "--config.dataset=folder:{tmp}/data",
          files=folder(mask=png(mode="L", value=7), **CLASSES)),
    train("train-prepared-not-ready", "path", "voc2012", "--config.dataset=voc2012",
          "--config.data_dir={tmp}/tfds"),
    train("train-workdir-is-a-file", "path", "{tmp}/out", files={"out": "my notes\n"}),
    Case("train-num-processes-not-int", "usage", ("train", "--num-processes", "two"), "two",
         codes=USAGE),
    Case("train-stray-argument", "usage", ("train", "voc_fcn8s.py"), "voc_fcn8s.py",
         codes=USAGE),
    train("train-resume-other-arch", "config", "arch", "--config.arch=fcn32s", run=True),
    train("train-resume-damaged-state", "damaged", "checkpoint", files={STATE: truncated},
          run=True),
    # eval
    Case("eval-workdir-missing", "path", ("eval", "--workdir", "{tmp}/nowhere"), "nowhere"),
    Case("eval-workdir-empty", "path", ("eval", "--workdir", "{tmp}/e"), "checkpoint",
         {"e": made_dir}),
    Case("eval-no-workdir", "usage", ("eval",), "--workdir", codes=USAGE),
    Case("eval-checkpoint-name", "config", ("eval", "--workdir", "{tmp}/run", "--checkpoint",
         "newest"), "newest", needs_run=True),
    Case("eval-checkpoint-step-absent", "config", ("eval", "--workdir", "{tmp}/run",
         "--checkpoint", "99"), "99", needs_run=True),
    Case("eval-config-json-garbage", "damaged", ("eval", "--workdir", "{tmp}/run"),
         "config.json", {"run/config.json": "{not json"}, needs_run=True),
    Case("eval-config-json-missing", "damaged", ("eval", "--workdir", "{tmp}/run"),
         "config.json", {"run/config.json": removed}, needs_run=True),
    Case("eval-spec-damaged", "damaged", ("eval", "--workdir", "{tmp}/run"), "checkpoint",
         {"run/checkpoints/2/model/metadata": "garbage"}, needs_run=True),
    Case("eval-state-damaged", "damaged", ("eval", "--workdir", "{tmp}/run"), "checkpoint",
         {STATE: truncated}, needs_run=True),
    # predict
    Case("predict-neither-source", "usage", ("predict", *ONE, "--out", "{tmp}/o"), "--workdir",
         codes=frozenset({1, 2})),
    Case("predict-both-sources", "usage", ("predict", "--workdir", "{tmp}", *WEIGHTS[1:]),
         "--weights", codes=frozenset({1, 2})),
    Case("predict-weights-missing", "path", WEIGHTS, "{tmp}/w"),
    Case("predict-weights-empty-folder", "path", WEIGHTS, "weights.json", {"w": made_dir}),
    Case("predict-weights-json-garbage", "damaged", WEIGHTS, "weights.json",
         {"w/weights.json": "{", "a.png": png()}),
    Case("predict-workdir-missing", "path", ("predict", "--workdir", "{tmp}/nowhere", *ONE,
         "--out", "{tmp}/o"), "nowhere"),
    Case("predict-image-missing", "path", (*PREDICT, "{tmp}/none.png", "--out", "{tmp}/o"),
         "none.png", needs_run=True),
    Case("predict-image-not-an-image", "format", (*PREDICT, *ONE, "--out", "{tmp}/o"), "a.png",
         {"a.png": "hello"}, needs_run=True),
    Case("predict-image-truncated", "damaged", (*PREDICT, *ONE, "--out", "{tmp}/o"), "a.png",
         {"a.png": png(64, 64)[:60]}, needs_run=True),
    Case("predict-image-folder-empty", "path", (*PREDICT, "{tmp}/d", "--out", "{tmp}/o"),
         "{tmp}/d", {"d": made_dir}, needs_run=True),
    Case("predict-image-glob-matches-nothing", "path", (*PREDICT, "{tmp}/*.png", "--out",
         "{tmp}/o"), "{tmp}/*.png", needs_run=True),
    Case("predict-depth-folder-empty", "path", (*PREDICT, *ONE, "--out", "{tmp}/o", "--depth",
         "{tmp}/d"), "{tmp}/d", {"a.png": png(), "d": made_dir}, needs_run=True),
    Case("predict-out-is-a-file", "path", (*PREDICT, *ONE, "--out", "{tmp}/o"), "{tmp}/o",
         {"a.png": png(), "o": "my notes\n"}, needs_run=True),
    Case("predict-out-overwrites-input", "path", (*PREDICT, "{tmp}/i/a.png", "--out", "{tmp}/i"),
         "a.png", {"i/a.png": png()}, needs_run=True),
    Case("predict-heatmap-unknown-class", "config", (*PREDICT, *ONE, "--out", "{tmp}/o",
         "--heatmap", "zebra"), "zebra", {"a.png": png()}, needs_run=True),
    Case("predict-depth-for-colour-net", "config", (*PREDICT, *ONE, "--out", "{tmp}/o",
         "--depth", "{tmp}/d.png"), "depth", {"a.png": png(), "d.png": png(mode="L")},
         needs_run=True),
    Case("predict-tile-too-small", "config", (*PREDICT, *ONE, "--out", "{tmp}/o", "--tile",
         "0"), "smallest tile of", {"a.png": png()}, needs_run=True),
    Case("predict-tile-with-bucket", "config", (*PREDICT, *ONE, "--out", "{tmp}/o", "--tile",
         "600", "--bucket", "32"), "--bucket", {"a.png": png()}, needs_run=True),
    # convert
    Case("convert-missing-file", "path", ("convert", "--from", "caffe", "{tmp}/none.caffemodel",
         "--out", "{tmp}/o"), "none.caffemodel"),
    Case("convert-empty-caffemodel", "damaged", ("convert", "--from", "caffe",
         "{tmp}/e.caffemodel", "--out", "{tmp}/o"), "e.caffemodel", {"e.caffemodel": b""}),
    Case("convert-garbage-caffemodel", "damaged", ("convert", "--from", "caffe",
         "{tmp}/j.caffemodel", "--out", "{tmp}/o"), "j.caffemodel",
         {"j.caffemodel": bytes(range(256)) * 4}),
    Case("convert-text-as-pth", "format", ("convert", "--from", "torchfcn", "{tmp}/j.pth",
         "--arch", "fcn8s", "--out", "{tmp}/o"), "j.pth", {"j.pth": "hello"}),
    Case("convert-garbage-npz", "damaged", ("convert", "--from", "torchvision", "{tmp}/j.npz",
         "--arch", "fcn32s", "--out", "{tmp}/o"), "j.npz", {"j.npz": b"PK\x03\x04junk"}),
    Case("convert-garbage-safetensors", "damaged", ("convert", "--from", "timm",
         "{tmp}/j.safetensors", "--arch", "fcn32s", "--out", "{tmp}/o"), "j.safetensors",
         {"j.safetensors": b"\xff" * 64}),
    Case("convert-source-is-a-folder", "path", ("convert", "--from", "torchvision", "{tmp}/s",
         "--arch", "fcn32s", "--out", "{tmp}/o"), "{tmp}/s", {"s": made_dir}),
    Case("convert-keep-classes-not-ints", "config", ("convert", "--from", "caffe",
         "{tmp}/j.caffemodel", "--keep-classes", "a,b", "--out", "{tmp}/o"), "keep-classes",
         {"j.caffemodel": b""}),
    Case("convert-unknown-format", "usage", ("convert", "--from", "onnx", "{tmp}/m.onnx",
         "--out", "{tmp}/o"), "onnx", codes=USAGE),
    Case("convert-npz-of-other-arrays", "format", ("convert", "--from", "torchvision",
         "{tmp}/x.npz", "--arch", "fcn32s", "--out", "{tmp}/o"), "x.npz",
         {"x.npz": lambda p: __import__("numpy").savez(p, foo=[1.0])}),
    # geometry
    Case("geometry-size-too-small", "config", ("geometry", "googlenet", "--size", "10"), "10"),
    Case("geometry-size-zero", "usage", ("geometry", "fcn8s", "--size", "0"), "--size",
         codes=USAGE),
    Case("geometry-size-three", "usage", ("geometry", "fcn8s", "--size", "1", "2", "3"),
         "--size", codes=USAGE),
    Case("geometry-fn-not-importable", "config", ("geometry", "--fn", "no_such_module_x:f",
         "--input", "1x32x32x3"), "no_such_module_x"),
    Case("geometry-fn-no-callable", "config", ("geometry", "--fn", "json:no_such_fn",
         "--input", "1x32x32x3"), "no_such_fn"),
    Case("geometry-fn-input-malformed", "usage", ("geometry", "--fn", "json:dumps",
         "--input", "1x32xx3"), "1x32xx3", codes=USAGE),
    Case("geometry-fn-and-arch", "usage", ("geometry", "fcn8s", "--fn", "json:dumps",
         "--input", "1x8x8x3"), "--fn", codes=USAGE),
    Case("geometry-arch-unknown", "usage", ("geometry", "fcn4s"), "fcn4s", codes=USAGE),
    Case("geometry-layer-unknown", "config", ("geometry", "fcn32s", "--size", "64", "--plot",
         "{tmp}/p.png", "--layer", "nope"), "nope"),
    Case("geometry-unit-outside", "config", ("geometry", "fcn32s", "--size", "64", "--plot",
         "{tmp}/p.png", "--unit", "9", "9"), "--unit"),
    Case("geometry-unit-without-plot", "usage", ("geometry", "fcn32s", "--unit", "1", "1"),
         "--plot", codes=USAGE),
    Case("geometry-plot-missing-folder", "path", ("geometry", "fcn32s", "--size", "64",
         "--plot", "{tmp}/nofolder/p.png"), "nofolder"),
    Case("geometry-plot-not-an-image-name", "format", ("geometry", "fcn32s", "--size", "64",
         "--plot", "{tmp}/p.txt"), "p.txt"),
    Case("geometry-plot-is-a-folder", "path", ("geometry", "fcn32s", "--size", "64", "--plot",
         "{tmp}/d.png"), "d.png", {"d.png": made_dir}),
    Case("geometry-interrupted", "interrupt", ("geometry", "fcn8s", "--verify"), "interrupted",
         codes=INTERRUPTED, interrupt_after=6),
    # export
    Case("export-classifier-dynamic", "config", (*EXPORT, "--out", "{tmp}/f.onnx", "--dynamic"),
         "--dynamic", {"w": classifier_weights}),
    Case("export-out-unwritable", "path", (*EXPORT, "--out", "{tmp}/none/f.onnx", "--height",
         "224", "--width", "224"), "{tmp}/none/f.onnx"),
    Case("export-out-is-a-folder", "path", (*EXPORT, "--out", "{tmp}/d", "--height", "224",
         "--width", "224"), "{tmp}/d", {"d": made_dir}),
    Case("export-no-size", "usage", (*EXPORT, "--out", "{tmp}/f.onnx"), "--height"),
    # config
    Case("config-unknown-field", "config", ("config", "--config.batch_sise=3"), "batch_sise"),
    Case("config-missing-file", "path", ("config", "--config={tmp}/none.py"), "none.py"),
    Case("config-stray-argument", "usage", ("config", "batch_size"), "batch_size", codes=USAGE),
    # data
    Case("data-info-unknown", "config", ("data", "info", "imagenet"), "imagenet"),
    Case("data-info-not-prepared", "path", ("data", "info", "voc2012", "--data-dir",
         "{tmp}/tfds"), "voc2012"),
    Case("data-info-folder-missing", "path", ("data", "info", "folder:{tmp}/none"), "none"),
    Case("data-info-folder-bad-mask", "damaged", ("data", "info", "folder:{tmp}/data"), "a.png",
         folder(mask=b"GIF89a")),
    Case("data-prepare-unknown", "config", ("data", "prepare", "imagenet", "--manual-dir",
         "{tmp}"), "imagenet"),
    Case("data-prepare-synthetic", "config", ("data", "prepare", "synthetic", "--manual-dir",
         "{tmp}"), "synthetic"),
    Case("data-prepare-manual-dir-missing", "path", ("data", "prepare", "voc2012",
         "--manual-dir", "{tmp}/none", "--data-dir", "{tmp}/tfds"), "{tmp}/none"),
    Case("data-prepare-manual-dir-empty", "path", ("data", "prepare", "voc2012",
         "--manual-dir", "{tmp}/m", "--data-dir", "{tmp}/tfds"), "{tmp}/m", {"m": made_dir}),
    Case("data-prepare-garbage-archive", "damaged", ("data", "prepare", "voc2012",
         "--manual-dir", "{tmp}/m", "--data-dir", "{tmp}/tfds"), "VOCtrainval_11-May-2012.tar",
         {"m/VOCtrainval_11-May-2012.tar": b"junk" * 100}),
    Case("data-no-subcommand", "usage", ("data",), "data_command", codes=USAGE),
    Case("unknown-command", "usage", ("fit",), "fit", codes=USAGE),
]
# fmt: on
