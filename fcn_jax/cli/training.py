"""``fcn-jax train``, and the parts ``eval`` and ``predict`` share with it (a checkpoint's
restore, the saved config, the scores table): configs are read here and nowhere below."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fcn_jax.cli.compile_cache import use_compilation_cache, workdir_cache


def load_config(overrides: list[str]):
    """An ml_collections config: ``--config FILE`` (default: the built-in synthetic run) and
    ``--config.FIELD=VALUE`` overrides, parsed by ml_collections' own flags."""
    from absl import flags
    from ml_collections import config_flags

    from fcn_jax import default_config

    path = config_path(overrides)
    if path is None:
        overrides = [f"--config={default_config.__file__}", *overrides]
    elif not Path(path.split(":")[0]).is_file():
        raise SystemExit(f"fcn-jax train: --config {path}: no such file")
    argv = ["fcn-jax train", *overrides]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "config file", flag_values=values, lock_config=True, sys_argv=argv
    )
    try:
        values(argv)
        return values.config
    except (AttributeError, KeyError) as err:
        if path and "get_config" in str(err):
            raise SystemExit(f"fcn-jax train: --config {path}: defines no get_config() "
                             "returning a ConfigDict") from err  # fmt: skip
        raise SystemExit(f"fcn-jax train: {unknown_field(overrides, err)}") from err
    except (flags.Error, TypeError, ValueError) as err:
        if "Error whilst parsing config file" in str(err):  # the file's own error: its last line
            raise SystemExit(f"fcn-jax train: --config {path}: {last_line(err)}") from err
        raise SystemExit(f"fcn-jax train: bad config option: {last_line(err)}") from err
    except (OSError, SyntaxError) as err:  # the file failed to load: its error is the last line
        raise SystemExit(f"fcn-jax train: --config {path}: {last_line(err)}") from err


def config_path(overrides: list[str]) -> str | None:
    """The FILE of ``--config FILE`` or ``--config=FILE`` among ``overrides``, if any."""
    for i, arg in enumerate(overrides):
        if arg.startswith("--config="):
            return arg.removeprefix("--config=")
        if arg == "--config":
            return overrides[i + 1] if i + 1 < len(overrides) else ""
    return None


def unknown_field(overrides: list[str], err: Exception) -> str:
    """What ml_collections' KeyError or AttributeError for an unknown override means."""
    while isinstance(err, Exception) and err.args:  # AttributeError(KeyError("'name'\n..."))
        err = err.args[0]
    said = str(err).splitlines()
    name = said[0].strip("'\"") if said else ""
    for arg in overrides:
        field = arg.removeprefix("--config.").split("=")[0]
        if arg.startswith("--config.") and name in field.split("."):
            return f"--config.{field}: no such config field{near_field(field)}"
    return f"bad config option: {' '.join(said)}"


def near_field(field: str) -> str:
    """'; did you mean --config.NAME?' for the schema's field nearest ``field``, if any."""
    import difflib

    from fcn_jax.cli.config_check import SCHEMA

    near = difflib.get_close_matches(field, SCHEMA, n=1)
    return f"; did you mean --config.{near[0]}?" if near else ""


def last_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def keeps_freed_memory(setting: str, crop_size: int) -> bool:
    """``config.keep_freed_memory``: 'on', 'off', or 'auto' (on when training crops make every
    batch one shape)."""
    choices = {"on": True, "off": False, "auto": crop_size > 0}
    if setting not in choices:
        raise SystemExit(f"fcn-jax train: config.keep_freed_memory must be 'auto', 'on' or "
                         f"'off', got {setting!r}")  # fmt: skip
    return choices[setting]


def checked_config(overrides: list[str]):
    """The config, each of its fields held to its schema (:mod:`fcn_jax.cli.config_check`)."""
    from fcn_jax.cli.config_check import ConfigError, check_config, check_paths
    from fcn_jax.data.datasets import DatasetNotReady

    config = load_config(overrides)
    try:
        check_config(config)
        check_paths(config)
    except (ConfigError, DatasetNotReady) as err:
        raise SystemExit(f"fcn-jax train: {err}") from err
    return config


def check_devices(config) -> None:
    """Refuse ``num_devices``, ``parallel`` or ``batch_size`` the devices here cannot run."""
    from fcn_jax.train.parallel import data_parallel

    try:
        data_parallel(config.parallel, config.num_devices, config.batch_size)
    except ValueError as err:
        raise SystemExit(f"fcn-jax train: {err}") from err


def run_train(args: argparse.Namespace, overrides: list[str]) -> int:
    config = checked_config(overrides)
    if keeps_freed_memory(config.keep_freed_memory, config.crop_size):
        from fcn_jax.kernels.allocator import keep_freed_memory

        keep_freed_memory()  # before jax and its threads are loaded: fcn_jax/allocator.py

    from fcn_jax.data.datasets import DatasetNotReady
    from fcn_jax.data.folder import FolderError
    from fcn_jax.train.checkpoint import CheckpointError, CheckpointMismatch
    from fcn_jax.train.init_from import InitError
    from fcn_jax.train.interrupt import TrainingInterrupted, sigterm_ends_at_once
    from fcn_jax.train.loop import ConfigError, train_and_evaluate
    from fcn_jax.train.parallel import start_distributed, wants_distributed
    from fcn_jax.weights.bundle import BundleError

    if wants_distributed(args.coordinator, args.num_processes, args.process_id):
        start_distributed(args.coordinator, args.num_processes, args.process_id)
        if args.workdir is None:
            raise SystemExit("fcn-jax train: --workdir (one shared directory) is required with "
                             "several processes")  # fmt: skip
    check_devices(config)
    workdir = args.workdir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
    if config.compilation_cache:  # a restarted run loads, not recompiles
        use_compilation_cache(workdir_cache(workdir), "train", probe=False)
    outside = "received outside the training steps: stopped; the checkpoints in"
    try:
        with sigterm_ends_at_once(f"fcn-jax train: SIGTERM {outside} {workdir} are as they were"):
            print(f"workdir: {workdir}", flush=True)  # at once, also into a pipe or a log
            result = train_and_evaluate(config, workdir)
    except TrainingInterrupted as stopped:
        print(f"fcn-jax train: {stopped}", file=sys.stderr)
        return stopped.exit_code
    except KeyboardInterrupt:  # outside the steps (set-up, the end): there was nothing to save
        print(f"fcn-jax train: SIGINT {outside} {workdir} are as they were", file=sys.stderr)
        return 130
    except (
        DatasetNotReady,
        FolderError,
        NotImplementedError,
        CheckpointMismatch,
        CheckpointError,
        FloatingPointError,
        InitError,
        BundleError,
        ConfigError,
    ) as err:
        raise SystemExit(f"fcn-jax train: {err}") from err
    print(format_scores(result, _class_names(workdir)))
    for task in config.tasks[1:]:  # e.g. SIFT Flow's geometric classes, by number
        print(f"\n{task}\n{format_scores(result[task])}")
    return 0


def _class_names(workdir) -> list[str] | None:
    from fcn_jax.train.checkpoint import Checkpoints

    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    return list(checkpoints.spec(checkpoints.resolve("latest")).class_names)


def format_scores(result: dict, class_names: list[str] | None = None) -> str:
    """The four metrics and a per-class IU table."""
    lines = [f"{key:>15}  {result[key]:.4f}" for key in SCORE_KEYS]
    names = class_names or [str(i) for i in range(len(result["per_class_iu"]))]
    lines += ["", f"{'class':>15}  IU"]
    for name, iu in zip(names, result["per_class_iu"], strict=True):
        lines.append(f"{name:>15}  {'absent' if iu is None else f'{iu:.4f}'}")
    return "\n".join(lines)


SCORE_KEYS = ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu")


def restore(workdir: str, which: str, command: str):
    """(run description, model, variables, step) of a training workdir's checkpoint; a bad
    workdir or checkpoint name is refused in one line before Orbax reads them."""
    from fcn_jax.train.checkpoint import Checkpoints
    from fcn_jax.train.spec import model_from

    check_workdir(workdir, which, command)
    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    try:
        step = checkpoints.resolve(which)
        spec = checkpoints.spec(step)
        variables = checkpoints.restore_variables(step)
    except (FileNotFoundError, ValueError) as err:  # CheckpointDamaged is a ValueError
        raise SystemExit(f"fcn-jax {command}: {err}") from err
    return spec, model_from(spec), variables, step


CHECKPOINTS = ("best", "latest")


def check_workdir(workdir: str, which: str, command: str) -> None:
    """A training workdir and a checkpoint name, refused in one line before Orbax reads them."""
    if not (which in CHECKPOINTS or which.isdigit()):
        raise SystemExit(f"fcn-jax {command}: --checkpoint must be best, latest or a step "
                         f"number, got {which!r}")  # fmt: skip
    path = Path(workdir)
    if not path.is_dir():
        what = "not a directory" if path.exists() else "no such directory"
        raise SystemExit(f"fcn-jax {command}: --workdir {workdir}: {what}")
    if not (path / "checkpoints").is_dir():
        raise SystemExit(f"fcn-jax {command}: --workdir {workdir}: no checkpoints/ directory; "
                         "not a training run (fcn-jax train --workdir writes one)")  # fmt: skip


def saved_config(workdir: str | Path, fields: tuple[str, ...]):
    """The default config with ``fields`` as the run in ``workdir`` saved them (a config.json
    written before a field existed leaves it at its default)."""
    from fcn_jax import default_config
    from fcn_jax.cli.config_check import ConfigError, check_config

    path = Path(workdir) / "config.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"fcn-jax eval: {path}: {last_line(err)}") from err
    config = default_config.get_config()
    try:
        config.update({field: saved[field] for field in fields if field in saved})
        check_config(config, fields)
    except (ConfigError, TypeError, ValueError) as err:
        raise SystemExit(f"fcn-jax eval: {path}: {err}") from err
    return config
