"""The objective of one train step: every example run through the net on its own (its dropout
key and loss sample folded from its position in the global batch), the heads' losses weighted
and normalised over the global batch, and the batch statistics averaged over the examples."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from fcn_jax.data.labels import VOID
from fcn_jax.train.losses import loss_denominator, pixel_loss_terms


@dataclass(frozen=True)
class Objective:
    """What the loss of a train step is (see :func:`fcn_jax.train.step.make_train_step`):
    ``axis`` is the pmap axis the batch is split over, or None under ``jax.jit``."""

    model: nn.Module
    normalize: str
    class_weights: Any
    keep_rate: float | None
    heads: tuple[str, ...]
    remat: bool
    aux_weight: float
    axis: str | None


def device_sum(x, axis: str | None):
    """``x`` summed over the devices of the pmap ``axis``; ``x`` itself under jit (where the
    batch is one array and XLA adds its parts)."""
    return x if axis is None else jax.lax.psum(x, axis)


def global_positions(n: int, axis: str | None) -> jax.Array:
    """The positions of this device's ``n`` examples in the global batch."""
    first = 0 if axis is None else jax.lax.axis_index(axis) * n
    return first + jnp.arange(n)


def fold_each(key, positions: jax.Array):
    """One key per example: ``key`` folded with the example's position."""
    return jax.vmap(partial(jax.random.fold_in, key))(positions)


def loss_sample(keep_rate: float | None, key, positions: jax.Array, shape) -> jax.Array | None:
    """Which label cells the loss keeps, drawn per example (paper section 4.4); None: all."""
    if keep_rate is None or keep_rate >= 1:
        return None
    keys = fold_each(key, positions)
    return jax.vmap(lambda k: jax.random.bernoulli(k, keep_rate, shape))(keys)


def loss_denominators(objective: Objective, labels: jax.Array) -> list[jax.Array]:
    """Per task, what its summed loss is divided by, from the global batch."""
    n = labels.shape[0]
    valid = device_sum(jnp.sum(labels != VOID, axis=(0, 1, 2)), objective.axis)
    return [
        loss_denominator(objective.normalize, device_sum(n, objective.axis), valid[t])
        for t in range(labels.shape[-1])
    ]


def updates_stats(model: nn.Module, model_state: dict) -> bool:
    """Whether the step trains batch norm (per-example statistics, running means updated)."""
    return bool(model_state) and getattr(model, "train_bn", False)


def forward_one(objective: Objective, update_stats: bool, variables: dict, image, key):
    """One example's outputs in training mode, and its batch statistics if ``update_stats``
    (else {})."""
    options = {"train": True, "rngs": {"dropout": key}}
    if objective.aux_weight:  # a ResNet FCN's auxiliary head: {'out': ..., 'aux': ...}
        options["with_aux"] = True
    if update_stats:
        out, new = objective.model.apply(variables, image[None], mutable=["batch_stats"], **options)
    else:
        out, new = objective.model.apply(variables, image[None], **options), {}
    return jax.tree.map(lambda a: a[0], out), new


def scored_outputs(objective: Objective, logits) -> list[tuple[jax.Array, int, float]]:
    """(logits, task, weight) of each output the loss scores; the auxiliary head scores the
    first task's labels."""
    aux = []
    if objective.aux_weight:
        logits, aux = logits["out"], [(logits["aux"], 0, objective.aux_weight)]
    outputs = [logits[h] for h in objective.heads] if objective.heads else [logits]
    return [(o, t, 1.0) for t, o in enumerate(outputs)] + aux


def weighted_loss(objective: Objective, scored, labels, keep, denominators) -> jax.Array:
    """The sum of the outputs' normalised losses, each times its weight."""
    total = 0.0
    for out, t, weight in scored:
        summed, _ = pixel_loss_terms(
            out,
            labels[..., t],
            class_weights=objective.class_weights,
            keep=None if keep is None else keep[..., t],
            keep_rate=objective.keep_rate,
        )
        total = total + weight * summed / denominators[t]
    return total


def mean_stats(updated, n: int, axis: str | None):
    """The running statistics moved by the mean of the examples' updates."""
    return jax.tree.map(lambda a: device_sum(a.sum(0), axis) / device_sum(n, axis), updated)


def loss_and_stats(params, model_state, *, objective, update_stats, images, labels, keep,
                   denominators, positions, dropout):  # fmt: skip
    """(the loss, the new model state) of a batch: every example run on its own, its dropout
    key folded from ``dropout`` with its global position."""
    variables = {"params": params, **model_state}
    dropout_keys = fold_each(dropout, positions)
    forward = partial(forward_one, objective, update_stats, variables)
    forward = jax.checkpoint(forward) if objective.remat else forward
    logits, updated = jax.vmap(forward)(images, dropout_keys)
    total = weighted_loss(objective, scored_outputs(objective, logits), labels, keep, denominators)
    if update_stats:
        model_state = mean_stats(updated, images.shape[0], objective.axis)
    return total, model_state
