"""``train_and_evaluate(config, workdir)``: the library entry of training.

This is the edge where a config is read; everything it calls takes plain arguments.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from fcn_jax.data.batching import pad_to
from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.labels import VOID
from fcn_jax.data.stream import train_batches
from fcn_jax.data.transforms import INPUTS, model_input
from fcn_jax.kernels.allocator import ReleaseOnNewShape
from fcn_jax.models import ARCHS, CLASSIFIERS, layer_types
from fcn_jax.models.layers import Deconv
from fcn_jax.predict.viz import tile
from fcn_jax.train.checkpoint import Checkpoints, check_same_net, check_writable
from fcn_jax.train.evaluate import eval_parts, scores_by_task
from fcn_jax.train.interrupt import StopSignals, TrainingInterrupted
from fcn_jax.train.optim import make_optimizer
from fcn_jax.train.parallel import data_parallel, local_copy, max_over_processes, sum_over_processes
from fcn_jax.train.runlog import RunLog, progress_bar
from fcn_jax.train.spec import RunSpec, model_from
from fcn_jax.train.step import evaluate, init_state, make_train_step, variables_of
from fcn_jax.weights.init_from import initialise, source_preprocessing

DATA_FIELDS = ("seed", "batch_size", "sampling")  # a resumed run must keep these
DATASET_FIELDS = ("dataset", "seed", "num_train", "num_val", "image_sizes", "on_error", "data_dir")


def dataset_from(config):
    """The config's dataset, opened with the settings of its ``DATASET_FIELDS``."""
    return open_dataset(config.dataset, seed=config.seed, num_train=config.num_train,
                        num_val=config.num_val, sizes=tuple(config.image_sizes),
                        on_error=config.on_error, data_dir=config.data_dir or None)  # fmt: skip


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


def check_resumable(saved: dict | None, config, workdir) -> None:
    """Raise if the config changes what the saved data stream depends on."""
    for field in DATA_FIELDS if saved else ():
        if saved[field] != config[field]:
            raise ValueError(
                f"{workdir} was trained with {field}={saved[field]!r}; resuming with "
                f"config.{field}={config[field]!r} would change the data it sees. Keep it, or "
                f"use a new --workdir with --config.init_from={workdir}"
            )


def validate_on(eval_step, params, val, prep, targets, keep: int):
    """Confusions over the validation split, each process scoring its share, and the first
    ``keep`` predictions of this process's share."""
    share = val[jax.process_index() :: jax.process_count()]
    confusions, predicted = evaluate(eval_step, local_copy(params), share, prep, targets, keep)
    return sum_over_processes(confusions), list(zip(share, predicted, strict=False))


def train_and_evaluate(config, workdir: str | Path) -> dict:
    """Train ``config`` in ``workdir`` (resuming from its latest checkpoint), evaluating every
    ``eval_every`` steps; return the final validation scores. SIGTERM or Ctrl-C stops after the
    current step with a checkpoint and raises :class:`TrainingInterrupted`."""
    inputs = config.input
    if inputs not in INPUTS:
        raise NotImplementedError(
            f"config.input={inputs!r}: unknown; inputs available: {', '.join(INPUTS)}"
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
    parallel = data_parallel(
        config.get("parallel", "sharding"), config.get("num_devices", 0), config.batch_size
    )
    if len(parallel.local_devices) < jax.local_device_count():
        print(f"data parallel over {parallel.mesh.devices.size} of {jax.device_count()} devices "
              f"(batch_size {config.batch_size})")  # fmt: skip
    workdir = Path(workdir)
    check_writable(workdir / "checkpoints")
    primary = jax.process_index() == 0
    dataset = dataset_from(config)
    spec = RunSpec.from_config(config, dataset, tasks, inputs)
    if config.init_from and inputs == "color":
        stored = source_preprocessing(config.init_from)
        if stored is not None:  # the weights' own, not the dataset's mean
            spec = replace(spec, preprocessing=stored)
            print(f"preprocessing stored with {config.init_from}: {stored.describe()}")
    model = model_from(spec)
    channels = model_input(dataset.val[0], inputs, spec.input_means()).shape[-1]
    sample = (1, 64, 64, channels)
    tx = optimizer_for(
        config, model, jax.eval_shape(model.init, jax.random.key(0), np.zeros(sample, np.float32))
    )
    state = jax.device_put(init_state(model, tx, sample, config.seed), parallel.replicated)
    checkpoints = Checkpoints(workdir / "checkpoints", keep=config.keep_checkpoints)
    position = None  # where the data stream resumes (None: at the state's step)
    if checkpoints.steps():
        latest = checkpoints.resolve("latest")
        check_same_net(checkpoints.spec(latest), spec, workdir)
        position = checkpoints.data(latest)
        check_resumable(position, config, workdir)
        state = checkpoints.restore(latest, state)
        print(f"resumed from step {int(state.step)} in {workdir}")
    elif config.init_from:
        variables, copied = initialise(variables_of(state), config.init_from, spec.streams)
        params = variables.pop("params")
        params = jax.device_put(params, parallel.replicated)
        model_state = jax.device_put(variables, parallel.replicated)
        state = state.replace(
            params=params, opt_state=jax.jit(tx.init)(params), model_state=model_state
        )
        print(f"initialised {len(copied)} layers from {config.init_from}")
    if primary:
        (workdir / "config.json").write_text(config.to_json(indent=2))

    loss_cfg = config.loss
    train_step = make_train_step(
        model,
        tx,
        normalize=loss_cfg.normalize,
        class_weights=None if loss_cfg.class_weights is None else list(loss_cfg.class_weights),
        keep_rate=loss_cfg.keep_rate,
        heads=tuple(name for name, _ in spec.heads),
        parallel=parallel,
        dtype=config.get("dtype", "float32"),
        remat=config.get("remat", False),
        aux_weight=config.get("aux_loss_weight", 0.0),
    )
    eval_step, prep, targets = eval_parts(model, spec)
    val = [dataset.val[i] for i in range(len(dataset.val))]
    first, total = int(state.step), config.total_steps
    data_start = position["next_step"] if position else first
    batches = train_batches(
        dataset.train,
        batch_size=config.batch_size,
        seed=config.seed,
        mean_rgb=spec.input_means()["color"],
        num_classes=spec.class_counts(),
        total_steps=config.total_steps,
        inputs=inputs,
        tasks=tasks,
        extra_means=dataset.extra_means,
        multiple=config.bucket_multiple,
        flip=config.flip,
        scale=None if config.augment_scale is None else tuple(config.augment_scale),
        crop=config.crop_size,
        sampling=config.sampling,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        start_step=data_start,
        workers=config.workers,
    )
    log = RunLog(workdir, enabled=primary)

    def validate(step: int, variables) -> dict:
        confusions, pairs = validate_on(eval_step, variables, val, prep, targets, config.num_tiles)
        result = {**scores_by_task(confusions, tasks), "eval_compilations": eval_step._cache_size()}
        log.write(step, "val", result)
        if pairs and primary:
            tile([(e["image"], e["label"], p) for e, p in pairs]).save(
                workdir / f"samples_{step:06d}.png"
            )
        log.plot()
        return result

    def save(step: int, state, result: dict | None) -> None:
        position = {"next_step": step, **{f: config[f] for f in DATA_FIELDS}}
        checkpoints.save(step, state, spec.to_json(), result, data=position)

    result = validate(first, variables_of(state)) if first >= total else {}  # nothing left to train
    padded = real = 0
    start = time.time()
    plain_every = max(config.log_every, total // 20)  # progress lines when not on a terminal
    placed = parallel.place_state(state)
    del state  # donated to the first step
    on_new_shape = ReleaseOnNewShape()
    try:
        with progress_bar(primary) as bar, StopSignals() as signals:
            task = bar.add_task("train", total=total, completed=first, loss=0.0, rate=0.0)
            for step in range(first + 1, total + 1):
                local = next(batches)
                if jax.process_count() > 1:  # every process pads to the largest part
                    local = pad_to(local, *max_over_processes(local["image"].shape[1:3]))
                padded += local["label"].size
                real += int((local["label"] != VOID).sum())
                on_new_shape(local["image"].shape)  # freed memory kept: fcn_jax/allocator.py
                placed, metrics = train_step(placed, parallel.place_batch(local))
                loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])
                if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                    raise FloatingPointError(
                        f"step {step}: loss {loss}, gradient norm {grad_norm}; training stopped. "
                        f"Checkpoints {checkpoints.steps()} are untouched; none was written "
                        "after them."
                    )
                last = step == total
                if step % config.log_every == 0 or last:
                    rate = (step - first) / (time.time() - start)
                    bar.update(task, completed=step, loss=loss, rate=rate)
                    if (
                        primary
                        and not bar.console.is_terminal
                        and (step % plain_every == 0 or last)
                    ):
                        eta = (total - step) / max(rate, 1e-9)
                        print(f"step {step}/{total} loss {loss:.4f} {rate:.2f} steps/s", end=" ")
                        print(f"ETA {eta:.0f} s")
                    log.write(
                        step,
                        "train",
                        {
                            "loss": loss,
                            "steps_per_s": rate,
                            "compilations": train_step.compilations(),
                            "padding_overhead": padded / max(real, 1) - 1,
                        },
                    )
                stop = int(max_over_processes(np.array(signals.requested)))
                evaluated = step % config.eval_every == 0 or last
                saved = step % config.checkpoint_every == 0 or last or stop
                canonical = parallel.canonical(placed) if evaluated or saved else None
                if evaluated:
                    result = validate(step, variables_of(canonical))
                if saved:
                    save(step, canonical, result if evaluated else None)
                if evaluated or saved:  # their buffers' holes would not fit the next step's
                    on_new_shape.release()
                if stop:
                    checkpoints.wait()
                    raise TrainingInterrupted(step, stop, workdir)
    finally:  # pending asynchronous saves complete, even when training stops on an error
        batches.close()  # grain's worker processes (config.workers) stop
        checkpoints.close()
        log.close()
    if primary:
        (workdir / "final_metrics.json").write_text(json.dumps(result, indent=2))
    return result
