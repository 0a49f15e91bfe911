"""Pure step functions: the train state, one optimisation step, evaluation, prediction."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import struct

from fcn_jax.losses import pixel_cross_entropy
from fcn_jax.metrics import confusion_matrix


@struct.dataclass
class TrainState:
    """Everything that changes during training; ``rng`` holds raw key data (uint32)."""

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


def init_state(model: nn.Module, tx, image_shape: tuple[int, ...], seed: int) -> TrainState:
    key = jax.random.key(seed)
    params = jax.jit(model.init)(key, jnp.zeros(image_shape, jnp.float32))["params"]
    return TrainState(
        step=jnp.array(0, jnp.int32),
        params=params,
        opt_state=tx.init(params),
        rng=jax.random.key_data(jax.random.fold_in(key, 1)),
    )


def make_train_step(
    model: nn.Module,
    tx,
    *,
    normalize: str = "sum",
    class_weights=None,
    keep_rate: float | None = None,
):
    """``train_step(state, batch) -> (state, {'loss'})``, jitted, donating the old state.

    ``batch`` holds 'image' (N, H, W, C) float32 and 'label' (N, H, W) int32 with 255 void.
    Compiles once per batch shape; shapes are bucketed upstream.
    """

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        rng, dropout, sampling = jax.random.split(jax.random.wrap_key_data(state.rng), 3)

        def loss_fn(params):
            logits = model.apply(
                {"params": params}, batch["image"], train=True, rngs={"dropout": dropout}
            )
            return pixel_cross_entropy(
                logits,
                batch["label"],
                normalize=normalize,
                class_weights=class_weights,
                keep_rate=keep_rate,
                rng=sampling,
            )

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            rng=jax.random.key_data(rng),
        )
        return new, {"loss": loss}

    return jax.jit(train_step, donate_argnums=0)


def make_eval_step(model: nn.Module, num_classes: int):
    """``eval_step(params, image, label) -> (C, C) confusion``: whole images, native size."""

    def eval_step(params, image, label):
        logits = model.apply({"params": params}, image)
        return confusion_matrix(label, jnp.argmax(logits, axis=-1), num_classes)

    return jax.jit(eval_step)


def make_predict(model: nn.Module):
    """``predict(params, image) -> (N, H, W) int32 labels``."""
    return jax.jit(lambda params, image: jnp.argmax(model.apply({"params": params}, image), -1))


def evaluate(eval_step, params, examples, preprocess, num_classes: int) -> np.ndarray:
    """Confusion matrix (int64) over ``examples``, each scored at its own size (no padding)."""
    total = np.zeros((num_classes, num_classes), np.int64)
    for example in examples:
        image = preprocess(example["image"])[None]
        label = np.asarray(example["label"], np.int32)[None]
        total += np.asarray(eval_step(params, image, label), np.int64)
    return total
