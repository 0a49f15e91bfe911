"""Scoring a net on a validation split: the jitted step, preprocessing and targets a run
description calls for, and the scores per task."""

from __future__ import annotations

from functools import partial

from fcn_jax.data.transforms import labels_of, model_input
from fcn_jax.train.metrics import scores
from fcn_jax.train.spec import RunSpec
from fcn_jax.train.step import make_eval_step


def eval_parts(model, spec: RunSpec) -> tuple:
    """(eval_step, preprocess, targets) for the net ``spec`` describes."""
    counts = tuple(n for _, n in spec.heads) or spec.num_classes
    eval_step = make_eval_step(model, counts, tuple(name for name, _ in spec.heads))
    prep = partial(model_input, inputs=spec.inputs, means=spec.input_means())
    targets = partial(labels_of, tasks=spec.tasks, where="val")
    return eval_step, prep, targets


def scores_by_task(confusions: list, tasks) -> dict:
    """The first task's scores, with every further task's scores under its name."""
    result = scores(confusions[0])
    for task, confusion in zip(tasks[1:], confusions[1:], strict=True):
        result[task] = scores(confusion)
    return result
