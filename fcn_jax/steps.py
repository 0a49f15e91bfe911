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
    """Fresh params (drawn with the 'rbg' generator: XLA compiles it about 4x faster on CPU
    than threefry, 2.7 s against 10.9 s for a width-1/32 FCN-8s), optimizer state and rng."""
    init_key = jax.random.key(seed, impl="rbg")
    params = jax.jit(model.init)(init_key, jnp.zeros(image_shape, jnp.float32))["params"]
    key = jax.random.key(seed)
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
    """``eval_step(params, image, label) -> ((C, C) confusion, (N, H, W) predictions)``."""

    def eval_step(params, image, label):
        predicted = jnp.argmax(model.apply({"params": params}, image), axis=-1)
        return confusion_matrix(label, predicted, num_classes), predicted

    return jax.jit(eval_step)


def make_predict(model: nn.Module):
    """``predict(params, image) -> (N, H, W) int32 labels``."""
    return jax.jit(lambda params, image: jnp.argmax(model.apply({"params": params}, image), -1))


def evaluate(
    eval_step, params, examples, preprocess, num_classes: int, keep: int = 0
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Confusion matrix (int64) over ``examples``, each scored whole at its own size (no
    padding, so scores are native-size scores), and the predictions of the first ``keep``.
    ``preprocess`` maps an example to the net's input."""
    total = np.zeros((num_classes, num_classes), np.int64)
    kept = []
    for k, example in enumerate(examples):
        image = preprocess(example)[None]
        label = np.asarray(example["label"], np.int32)[None]
        confusion, predicted = eval_step(params, image, label)
        total += np.asarray(confusion, np.int64)
        if k < keep:
            kept.append(np.asarray(predicted[0]))
    return total, kept
