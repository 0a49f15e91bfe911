"""Optax recipes: the reference SGD and a modern alternative, with the reference's param groups.

Param groups follow the reference prototxts: weights decay and learn at the base rate; biases
learn at ``bias_lr_mult`` (2) times it without decay; frozen params (fixed bilinear
deconvolutions) never move, not even by weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import optax

FROZEN, WEIGHT, BIAS = "frozen", "weight", "bias"


def param_groups(params, frozen_layers: Iterable[str] = ()) -> dict:
    """A tree like ``params`` of 'weight' / 'bias' / 'frozen' labels, by the name of the layer
    owning each leaf (so nested nets, e.g. late-fusion streams, are labelled the same way)."""
    frozen = set(frozen_layers)

    def label(path, _):
        layer, leaf = path[-2].key, path[-1].key  # the module owning the leaf
        if layer in frozen:
            return FROZEN
        return BIAS if leaf == "bias" else WEIGHT

    return jax.tree_util.tree_map_with_path(label, params)


def schedule(kind: str, learning_rate: float, total_steps: int, power: float = 0.9):
    """'fixed' (the reference) or 'poly': lr * (1 - step / total_steps) ** power."""
    match kind:
        case "fixed":
            return optax.constant_schedule(learning_rate)
        case "poly":
            return optax.polynomial_schedule(learning_rate, 0.0, power, total_steps)
        case _:
            raise ValueError(f"schedule must be 'fixed' or 'poly', got {kind!r}")


def make_optimizer(
    params,
    *,
    name: str = "sgd",
    learning_rate: float = 1e-10,
    momentum: float = 0.99,
    weight_decay: float = 5e-4,
    bias_lr_mult: float = 2.0,
    lr_schedule: str = "fixed",
    total_steps: int = 100_000,
    accumulate_steps: int = 1,
    frozen_layers: Iterable[str] = (),
) -> optax.GradientTransformation:
    """The optimizer for ``params``.

    ``name='sgd'`` with the defaults is the reference solver (SGD, momentum 0.99, fixed rate,
    decay 5e-4 on weights, biases at 2x). ``name='adam'`` is the modern alternative (use it
    with ``lr_schedule='poly'`` and the mean loss). ``accumulate_steps`` > 1 sums gradients
    over that many steps before one update (Caffe's ``iter_size``).
    """
    if accumulate_steps < 1:
        raise ValueError(f"accumulate_steps must be >= 1, got {accumulate_steps}")

    def base(rate_mult: float) -> Callable:
        lr = schedule(lr_schedule, learning_rate * rate_mult, total_steps)
        match name:
            case "sgd":
                return optax.sgd(lr, momentum=momentum or None)
            case "adam":
                return optax.adam(lr)
            case _:
                raise ValueError(f"optimizer name must be 'sgd' or 'adam', got {name!r}")

    tx = optax.multi_transform(
        {
            WEIGHT: optax.chain(optax.add_decayed_weights(weight_decay), base(1.0)),
            BIAS: base(bias_lr_mult),
            FROZEN: optax.set_to_zero(),
        },
        param_groups(params, frozen_layers),
    )
    if accumulate_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=accumulate_steps, use_grad_mean=False)
    return tx
