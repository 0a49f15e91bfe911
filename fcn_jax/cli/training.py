"""``fcn-jax train`` and ``fcn-jax eval``: configs are read here and nowhere below."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def load_config(overrides: list[str]):
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


def keeps_freed_memory(setting: str, crop_size: int) -> bool:
    """``config.keep_freed_memory``: 'on', 'off', or 'auto' (on when training crops make every
    batch one shape)."""
    choices = {"on": True, "off": False, "auto": crop_size > 0}
    if setting not in choices:
        raise SystemExit(f"fcn-jax train: config.keep_freed_memory must be 'auto', 'on' or "
                         f"'off', got {setting!r}")  # fmt: skip
    return choices[setting]


def run_train(args: argparse.Namespace, overrides: list[str]) -> int:
    config = load_config(overrides)
    if keeps_freed_memory(config.keep_freed_memory, config.crop_size):
        from fcn_jax.kernels.allocator import keep_freed_memory

        keep_freed_memory()  # before jax and its threads are loaded: fcn_jax/allocator.py

    from fcn_jax.data.datasets import DatasetNotReady
    from fcn_jax.data.folder import FolderError
    from fcn_jax.train.checkpoint import CheckpointError, CheckpointMismatch
    from fcn_jax.train.init_from import InitError
    from fcn_jax.train.interrupt import TrainingInterrupted
    from fcn_jax.train.loop import train_and_evaluate
    from fcn_jax.train.parallel import start_distributed, wants_distributed
    from fcn_jax.weights.bundle import BundleError

    if wants_distributed(args.coordinator, args.num_processes, args.process_id):
        start_distributed(args.coordinator, args.num_processes, args.process_id)
        if args.workdir is None:
            raise SystemExit("fcn-jax train: --workdir (one shared directory) is required with "
                             "several processes")  # fmt: skip
    workdir = args.workdir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"workdir: {workdir}")
    if config.compilation_cache:  # a restarted run loads, not recompiles
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
        InitError,
        BundleError,
    ) as err:
        raise SystemExit(f"fcn-jax train: {err}") from err
    print(format_scores(result, _class_names(workdir)))
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


def restore(workdir: str, which: str):
    """(run description, model, variables, step) of a training workdir's checkpoint."""
    from fcn_jax.train.checkpoint import Checkpoints
    from fcn_jax.train.spec import model_from

    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    try:
        step = checkpoints.resolve(which)
        spec = checkpoints.spec(step)
        variables = checkpoints.restore_variables(step)
    except (FileNotFoundError, ValueError) as err:  # CheckpointDamaged is a ValueError
        raise SystemExit(f"fcn-jax: {err}") from err
    return spec, model_from(spec), variables, step


def saved_config(workdir: str | Path, fields: tuple[str, ...]):
    """The default config with ``fields`` as the run in ``workdir`` saved them (a config.json
    written before a field existed leaves it at its default)."""
    from fcn_jax import default_config

    saved = json.loads((Path(workdir) / "config.json").read_text())
    config = default_config.get_config()
    config.update({field: saved[field] for field in fields if field in saved})
    return config


def run_eval(args: argparse.Namespace) -> int:
    from fcn_jax.train.evaluate import eval_parts, scores_by_task
    from fcn_jax.train.loop import DATASET_FIELDS, dataset_from
    from fcn_jax.train.step import evaluate

    spec, model, params, step = restore(args.workdir, args.checkpoint)
    dataset = dataset_from(saved_config(args.workdir, DATASET_FIELDS))
    val = [dataset.val[i] for i in range(len(dataset.val))]
    eval_step, prep, targets = eval_parts(model, spec)
    confusions, _ = evaluate(eval_step, params, val, prep, targets)
    result = scores_by_task(confusions, spec.tasks)
    result["step"] = step
    (Path(args.workdir) / f"eval_{step:06d}.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"checkpoint step {step}, {len(val)} validation images")
        print(format_scores(result, list(spec.class_names)))
    return 0
