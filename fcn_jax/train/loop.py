"""``train_and_evaluate(config, workdir)``: the library entry of training.

This is the edge where a config is read; everything it calls takes plain arguments. It sets up
the dataset, the net, the state, the step, the checkpoints and the hooks
(:mod:`fcn_jax.train.hooks`), then runs the steps, each followed by the hooks' work.
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import replace
from functools import partial
from pathlib import Path

import jax
import numpy as np

from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.stream import train_batches
from fcn_jax.data.transforms import INPUTS, model_input
from fcn_jax.kernels.allocator import ReleaseOnNewShape
from fcn_jax.kernels.choice import KERNELS
from fcn_jax.models import ARCHS, CLASSIFIERS, layer_types
from fcn_jax.models.layers import Deconv
from fcn_jax.train.checkpoint import Checkpoints, check_writable
from fcn_jax.train.evaluate import eval_parts, scores_by_task
from fcn_jax.train.hooks import (
    CheckpointHook,
    Every,
    LogHook,
    StopSignalsHook,
    ValidateHook,
    feed,
    final_validation,
    finite_loss,
    periodic_work,
)
from fcn_jax.train.init_from import source_preprocessing
from fcn_jax.train.interrupt import StopSignals
from fcn_jax.train.optim import make_optimizer
from fcn_jax.train.parallel import DataParallel, data_parallel
from fcn_jax.train.progress import BestScores, RunDisplay, progress_bar
from fcn_jax.train.rate import StepRate
from fcn_jax.train.runlog import PaddingCount, RunLog, describe_changes, record_config, rows
from fcn_jax.train.spec import RunSpec, model_from
from fcn_jax.train.start import initialised, resumed
from fcn_jax.train.step import init_state, make_train_step

DATA_FIELDS = ("seed", "batch_size", "sampling")  # a resumed run must keep these
DATASET_FIELDS = ("dataset", "seed", "num_train", "num_val", "image_sizes", "on_error", "data_dir")


class ConfigError(ValueError):
    """A config value outside what it may be: one line naming the field and what is allowed."""


def check_class_weights(weights, class_counts: list[int], dataset: str) -> None:
    """Raise :class:`ConfigError` unless ``weights`` (or None) has one weight per class of
    every task's head."""
    if weights is None or all(len(weights) == n for n in class_counts):
        return
    counts = " and ".join(str(n) for n in class_counts)
    raise ConfigError(f"config.loss.class_weights has {len(weights)} weights; dataset "
                      f"{dataset!r} has {counts} classes: give one weight per class")  # fmt: skip


def dataset_from(config):
    """The config's dataset, opened with the settings of its ``DATASET_FIELDS``."""
    return open_dataset(config.dataset, seed=config.seed, num_train=config.num_train,
                        num_val=config.num_val, sizes=tuple(config.image_sizes),
                        on_error=config.on_error, data_dir=config.data_dir or None)  # fmt: skip


def supported(config) -> tuple[str, tuple[str, ...]]:
    """The config's (inputs, tasks), if this trainer trains them."""
    inputs = config.input
    if inputs not in INPUTS:
        raise NotImplementedError(
            f"config.input={inputs!r}: unknown; inputs available: {', '.join(INPUTS)}"
        )
    if config.kernels not in KERNELS:
        raise NotImplementedError(
            f"config.kernels={config.kernels!r}: unknown; choose one of {', '.join(KERNELS)}"
        )
    if config.arch in CLASSIFIERS:
        raise NotImplementedError(
            f"config.arch={config.arch!r} is a convolutionalized classifier (coarse class scores, "
            f"no upsampling): train an FCN ({', '.join(ARCHS)}), e.g. with "
            f"--config.init_from=DIR of its converted weights"
        )
    tasks = tuple(config.tasks)
    if tasks not in (("semantic",), ("semantic", "geometric")):
        raise NotImplementedError(
            f"config.tasks={tasks!r}: supported are ('semantic',) and ('semantic', 'geometric')"
        )
    return inputs, tasks


def parallel_for(config) -> DataParallel:
    """How the config spreads the batch over the devices; said when not over all of them."""
    parallel = data_parallel(config.parallel, config.num_devices, config.batch_size)
    if len(parallel.local_devices) < jax.local_device_count():
        print(f"data parallel over {parallel.mesh.devices.size} of {jax.device_count()} devices "
              f"(batch_size {config.batch_size})")  # fmt: skip
    return parallel


def described(config, dataset, tasks, inputs) -> RunSpec:
    """The run's description; with colour input and ``init_from``, the preprocessing stored
    with those weights (the weights' own, not the dataset's mean)."""
    spec = RunSpec.from_config(config, dataset, tasks, inputs)
    from_weights = config.init_from and inputs == "color"
    stored = source_preprocessing(config.init_from) if from_weights else None
    if stored is not None:
        spec = replace(spec, preprocessing=stored)
        print(f"preprocessing stored with {config.init_from}: {stored.describe()}")
    return spec


def optimizer_for(config, model, shapes):
    """The config's optimizer; deconvolutions are frozen unless upsampling is learnable."""
    frozen = (
        []
        if config.learnable_upsampling
        else [name for name, kind in layer_types(model).items() if kind is Deconv]
    )
    opt = config.optimizer
    return make_optimizer(
        shapes["params"],
        name=opt.name,
        learning_rate=opt.learning_rate,
        momentum=opt.momentum,
        weight_decay=opt.weight_decay,
        bias_lr_mult=opt.bias_lr_mult,
        lr_schedule=opt.lr_schedule,
        total_steps=config.total_steps,
        accumulate_steps=opt.accumulate_steps,
        frozen_layers=frozen,
    )


def step_for(config, model, tx, spec: RunSpec, parallel: DataParallel):
    """The compiled train step the config's loss asks for."""
    loss = config.loss
    return make_train_step(
        model,
        tx,
        normalize=loss.normalize,
        class_weights=None if loss.class_weights is None else list(loss.class_weights),
        keep_rate=loss.keep_rate,
        heads=tuple(name for name, _ in spec.heads),
        parallel=parallel,
        dtype=config.dtype,
        remat=config.remat,
        aux_weight=config.aux_loss_weight,
    )


def batch_options(config, dataset, spec: RunSpec, inputs, tasks) -> dict:
    """What :func:`~fcn_jax.data.stream.train_batches` makes this process's batches with."""
    return {
        "batch_size": config.batch_size,
        "seed": config.seed,
        "mean_rgb": spec.input_means()["color"],
        "num_classes": spec.class_counts(),
        "total_steps": config.total_steps,
        "inputs": inputs,
        "tasks": tasks,
        "extra_means": dataset.extra_means,
        "multiple": config.bucket_multiple,
        "flip": config.flip,
        "scale": None if config.augment_scale is None else tuple(config.augment_scale),
        "crop": config.crop_size,
        "sampling": config.sampling,
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "workers": config.workers,
    }


def validation_for(config, model, spec: RunSpec, dataset, tasks, log, workdir,
                   display) -> ValidateHook:  # fmt: skip
    """Validation on the dataset's whole validation split, every ``eval_every`` steps."""
    eval_step, prep, targets = eval_parts(model, spec)
    return ValidateHook(
        Every(config.eval_every, config.total_steps),
        eval_step,
        prep,
        targets,
        val=[dataset.val[i] for i in range(len(dataset.val))],
        score=partial(scores_by_task, tasks=tasks),
        keep=config.num_tiles,
        log=log,
        workdir=workdir,
        primary=log.enabled,
        display=display,
        class_names=tuple(spec.class_names),
    )


def train_and_evaluate(config, workdir: str | Path) -> dict:
    """Train ``config`` in ``workdir`` (resuming from its latest checkpoint), evaluating every
    ``eval_every`` steps; return the final validation scores. SIGTERM or Ctrl-C stops after the
    current step (or between validation images) with a checkpoint and raises
    :class:`TrainingInterrupted`."""
    inputs, tasks = supported(config)
    parallel = parallel_for(config)
    workdir = Path(workdir)
    primary = jax.process_index() == 0
    dataset = dataset_from(config)
    spec = described(config, dataset, tasks, inputs)
    check_class_weights(config.loss.class_weights, spec.class_counts(), config.dataset)
    check_writable(workdir / "checkpoints")  # the workdir is made once every setting is known
    model = model_from(spec)
    channels = model_input(dataset.val[0], inputs, spec.input_means()).shape[-1]
    sample = (1, 64, 64, channels)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros(sample, np.float32))
    tx = optimizer_for(config, model, shapes)
    state = jax.device_put(init_state(model, tx, sample, config.seed), parallel.replicated)
    checkpoints = Checkpoints(workdir / "checkpoints", keep=config.keep_checkpoints)
    data_start, data = int(state.step), {f: config[f] for f in DATA_FIELDS}
    if checkpoints.steps():
        state, data_start = resumed(checkpoints, state, spec, data, workdir)
    elif config.init_from:
        state = initialised(state, tx, config.init_from, spec.streams, parallel)
    changed = record_config(workdir, config.to_json(indent=2), int(state.step)) if primary else {}
    if changed:
        print(describe_changes(changed))

    train_step = step_for(config, model, tx, spec, parallel)
    first, total = int(state.step), config.total_steps
    options = batch_options(config, dataset, spec, inputs, tasks)
    batches = train_batches(dataset.train, start_step=data_start, **options)
    title = f"{config.arch} on {config.dataset} ({workdir.name})"
    log = RunLog(workdir, primary, first, class_names=spec.class_names, title=title)
    every_save, every_eval = Every(config.checkpoint_every, total), Every(config.eval_every, total)
    checkpoint = CheckpointHook(checkpoints, every_save, spec.to_json(), data)
    padding, memory = PaddingCount(), ReleaseOnNewShape()
    every_log = Every(config.log_every, total)
    # off a terminal, a progress line about every twentieth of the run, on a logged step
    plain = Every(config.log_every * max(1, total // 20 // config.log_every), total)
    best = BestScores(tasks, rows(workdir, "val") if primary else [])
    placed = parallel.place_state(state)
    with (
        StopSignals() as signals,  # left last: a signal while the saves complete is recorded
        closing(log),  # the with statement exits its parts in reverse
        closing(checkpoints),  # pending asynchronous saves complete, even on an error
        closing(batches),  # grain's worker processes (config.workers) stop
        progress_bar(primary) as bar,
    ):
        display = RunDisplay(bar, first, total, every_eval, plain, tasks, best, primary)
        validation = validation_for(config, model, spec, dataset, tasks, log, workdir, display)
        progress = LogHook(log, display, every_log, train_step, padding, StepRate())
        stop_signals = StopSignalsHook(signals, checkpoints, workdir)
        if first >= total:  # nothing left to train
            final_validation(first, state, validation, stop_signals)
        del state  # donated to the first step
        for step in range(first + 1, total + 1):
            progress.begin()
            placed, metrics = train_step(placed, feed(next(batches), parallel, padding, memory))
            checkpoints.check(wait=validation.due(step))  # a failed save stops the run
            progress(step, finite_loss(step, metrics, checkpoints))
            stop = periodic_work(step, placed, parallel, validation, checkpoint, stop_signals,
                                 memory)  # fmt: skip
            stop_signals.stop_if(step, stop)
    if primary:
        (workdir / "final_metrics.json").write_text(json.dumps(validation.result, indent=2))
    return validation.result
