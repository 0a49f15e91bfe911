"""``train_and_evaluate(config, workdir)``: the library entry of training.

This is the edge where a config is read; everything it calls takes plain arguments.
"""

from __future__ import annotations

import json
import math
import time
from functools import partial
from pathlib import Path

import jax
import numpy as np

from fcn_jax.checkpoint import Checkpoints, check_same_net
from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.pipeline import INPUTS, labels_of, model_input, train_batches
from fcn_jax.layers import Deconv
from fcn_jax.losses import VOID
from fcn_jax.metrics import scores
from fcn_jax.models import LateFusion, build, layer_types
from fcn_jax.optim import make_optimizer
from fcn_jax.runlog import RunLog, progress_bar
from fcn_jax.steps import evaluate, init_state, make_eval_step, make_train_step
from fcn_jax.transplant import load_params, transplant
from fcn_jax.viz import tile


def model_description(config, dataset) -> dict:
    """What eval and predict need to rebuild the net and its preprocessing."""
    return {
        "arch": config.arch,
        "num_classes": dataset.num_classes,
        "align": config.align,
        "width": config.width,
        "learnable_upsampling": config.learnable_upsampling,
        "dataset": config.dataset,
        "class_names": list(dataset.class_names),
        "mean_rgb": list(dataset.mean_rgb),
    }


def dataset_options(config) -> dict:
    """The dataset's own settings, from a config (or its JSON as a dict)."""
    get = config.get
    return {
        "seed": get("seed", 0),
        "num_train": get("num_train", 2000),
        "num_val": get("num_val", 100),
        "sizes": tuple(get("image_sizes", (96, 112, 128))),
        "on_error": get("on_error", "raise"),
        "data_dir": get("data_dir", None) or None,
    }


def initialise(params: dict, init_from: str, streams: list[str]) -> tuple[dict, list[str]]:
    """``params`` with layers copied from ``init_from``: one source, or for a late-fusion net
    one source per stream separated by '|' (e.g. 'runs/nyud_color|runs/nyud_hha')."""
    if not streams:
        return transplant(params, load_params(init_from))
    sources = init_from.split("|")
    if len(sources) != len(streams):
        raise ValueError(f"init_from {init_from!r} needs one source per stream {streams}")
    result, copied = dict(params), []
    for stream, source in zip(streams, sources, strict=True):
        result[stream], names = transplant(params[stream], load_params(source))
        copied += [f"{stream}/{name}" for name in names]
    return result, copied


HEAD_NAMES = {"semantic": "sem", "geometric": "geo"}  # layer suffixes, as the reference's


def eval_parts(model, description: dict) -> tuple:
    """(eval_step, preprocess, targets) for a model description."""
    heads = description.get("heads", ())
    counts = tuple(n for _, n in heads) or description["num_classes"]
    eval_step = make_eval_step(model, counts, tuple(name for name, _ in heads))
    prep = partial(model_input, inputs=description.get("inputs", "color"),
                   means=input_means(description))  # fmt: skip
    targets = partial(labels_of, tasks=description.get("tasks", ("semantic",)), where="val")
    return eval_step, prep, targets


def scores_by_task(confusions: list, tasks) -> dict:
    """The first task's scores, with every further task's scores under its name."""
    result = scores(confusions[0])
    for task, confusion in zip(tasks[1:], confusions[1:], strict=True):
        result[task] = scores(confusion)
    return result


def input_means(description: dict) -> dict:
    """The means :func:`~fcn_jax.data.pipeline.model_input` needs, from a model description."""
    return {"color": tuple(description["mean_rgb"]), **description.get("extra_means", {})}


def model_from(description: dict):
    return build(
        description["arch"],
        description["num_classes"],
        align=description["align"],
        width=description["width"],
        learnable_upsampling=description["learnable_upsampling"],
        streams=tuple(description.get("streams", ())),
        heads=tuple((name, count) for name, count in description.get("heads", ())),
    )


def train_and_evaluate(config, workdir: str | Path) -> dict:
    """Train ``config`` in ``workdir`` (resuming from its latest checkpoint), evaluating every
    ``eval_every`` steps; return the final validation scores."""
    inputs = config.get("input", "color")
    if inputs not in INPUTS:
        raise NotImplementedError(
            f"config.input={inputs!r}: unknown; inputs available: {', '.join(INPUTS)}"
        )
    tasks = tuple(config.get("tasks", None) or ("semantic",))
    if tasks not in (("semantic",), ("semantic", "geometric")):
        raise NotImplementedError(
            f"config.tasks={tasks!r}: supported are ('semantic',) and ('semantic', 'geometric')"
        )
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dataset = open_dataset(config.dataset, **dataset_options(config))
    counts = [dataset.num_classes] + [len(dataset.task_class_names[t]) for t in tasks[1:]]
    heads = [[HEAD_NAMES[t], n] for t, n in zip(tasks, counts, strict=True)] if tasks[1:] else []
    description = {
        **model_description(config, dataset),
        "tasks": list(tasks),
        "heads": heads,
        "inputs": inputs,
        "streams": inputs.split("|") if "|" in inputs else [],
        "extra_means": dataset.extra_means,
    }
    model = model_from(description)
    single = model.stream if isinstance(model, LateFusion) else model
    frozen = (
        []
        if config.learnable_upsampling
        else [name for name, kind in layer_types(single).items() if kind is Deconv]
    )
    channels = model_input(dataset.val[0], inputs, input_means(description)).shape[-1]
    sample = (1, 64, 64, channels)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros(sample, np.float32))
    opt = config.optimizer
    tx = make_optimizer(
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
    state = init_state(model, tx, sample, config.seed)
    checkpoints = Checkpoints(workdir / "checkpoints", keep=config.keep_checkpoints)
    if checkpoints.steps():
        latest = checkpoints.resolve("latest")
        check_same_net(checkpoints.model(latest), description, workdir)
        state = checkpoints.restore(latest, state)
        print(f"resumed from step {int(state.step)} in {workdir}")
    elif config.init_from:
        params, copied = initialise(state.params, config.init_from, description["streams"])
        state = state.replace(params=params, opt_state=tx.init(params))
        print(f"initialised {len(copied)} layers from {config.init_from}")
    (workdir / "config.json").write_text(config.to_json(indent=2))

    loss_cfg = config.loss
    train_step = make_train_step(
        model,
        tx,
        normalize=loss_cfg.normalize,
        class_weights=None if loss_cfg.class_weights is None else list(loss_cfg.class_weights),
        keep_rate=loss_cfg.keep_rate,
        heads=tuple(name for name, _ in heads),
    )
    eval_step, prep, targets = eval_parts(model, description)
    val = [dataset.val[i] for i in range(len(dataset.val))]
    batches = train_batches(
        dataset.train,
        batch_size=config.batch_size,
        seed=config.seed,
        mean_rgb=dataset.mean_rgb,
        num_classes=counts,
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
        start_step=int(state.step),
        workers=config.workers,
    )
    log = RunLog(workdir)

    def validate(step: int) -> dict:
        confusions, predicted = evaluate(
            eval_step, state.params, val, prep, targets, config.num_tiles
        )
        result = {**scores_by_task(confusions, tasks), "eval_compilations": eval_step._cache_size()}
        log.write(step, "val", result)
        rows = [(e["image"], e["label"], p) for e, p in zip(val, predicted, strict=False)]
        if rows:
            tile(rows).save(workdir / f"samples_{step:06d}.png")
        log.plot()
        return result

    first, total = int(state.step), config.total_steps
    result = validate(first) if first >= total else {}  # nothing left to train: just score
    padded = real = 0
    start = time.time()
    plain_every = max(config.log_every, total // 20)  # progress lines when not on a terminal
    try:
        with progress_bar() as bar:
            task = bar.add_task("train", total=total, completed=first, loss=0.0, rate=0.0)
            for step in range(first + 1, total + 1):
                batch = next(batches)
                padded += batch["label"].size
                real += int((batch["label"] != VOID).sum())
                state, metrics = train_step(state, batch)
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
                    if not bar.console.is_terminal and (step % plain_every == 0 or last):
                        eta = (total - step) / max(rate, 1e-9)
                        print(f"step {step}/{total} loss {loss:.4f} {rate:.2f} steps/s", end=" ")
                        print(f"ETA {eta:.0f} s")
                    compiled = train_step._cache_size()
                    overhead = padded / max(real, 1) - 1
                    log.write(
                        step,
                        "train",
                        {
                            "loss": loss,
                            "steps_per_s": rate,
                            "compilations": compiled,
                            "padding_overhead": overhead,
                        },
                    )
                evaluated = step % config.eval_every == 0 or last
                if evaluated:
                    result = validate(step)
                if step % config.checkpoint_every == 0 or last:
                    checkpoints.save(step, state, description, result if evaluated else None)
    finally:  # pending asynchronous saves complete, even when training stops on an error
        checkpoints.close()
        log.close()
    (workdir / "final_metrics.json").write_text(json.dumps(result, indent=2))
    return result
