"""Pure step functions: the train state, one optimisation step (its loss in
:mod:`fcn_jax.train.objective`), evaluation."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import struct

from fcn_jax.data.batching import pad_batch
from fcn_jax.kernels.compiler import step_options
from fcn_jax.train.metrics import confusion_matrix
from fcn_jax.train.objective import (
    Objective,
    device_sum,
    global_positions,
    loss_and_stats,
    loss_denominators,
    loss_sample,
    updates_stats,
)
from fcn_jax.train.parallel import CompiledStep, DataParallel, collective_axis, compile_step


@struct.dataclass
class TrainState:
    """Everything that changes during training; ``rng`` holds raw key data (uint32);
    ``model_state`` the net's non-trained variables (``{'batch_stats': ...}`` for batch norm,
    else empty)."""

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    model_state: Any


def as_variables(params_or_variables: dict) -> dict:
    """Flax variables from params alone or from variables (``{'params': ..., ...}``)."""
    if "params" in params_or_variables:
        return params_or_variables
    return {"params": params_or_variables}


def variables_of(state: TrainState) -> dict:
    """The variables the net is applied with: params and its model state."""
    return {"params": state.params, **state.model_state}


def init_state(model: nn.Module, tx, image_shape: tuple[int, ...], seed: int) -> TrainState:
    """Fresh params (drawn with the 'rbg' generator: XLA compiles it about 4x faster on CPU
    than threefry, 2.7 s against 10.9 s for a width-1/32 FCN-8s), optimizer state and rng."""
    init_key = jax.random.key(seed, impl="rbg")
    variables = jax.jit(model.init)(init_key, jnp.zeros(image_shape, jnp.float32))
    params = variables["params"]
    key = jax.random.key(seed)
    return TrainState(
        step=jnp.array(0, jnp.int32),
        params=params,
        opt_state=tx.init(params),
        rng=jax.random.key_data(jax.random.fold_in(key, 1)),
        model_state={k: v for k, v in variables.items() if k == "batch_stats"},
    )


def apply_gradients(tx, state: TrainState, grads, rng, model_state) -> TrainState:
    """The state after one optimizer update with ``grads``."""
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return state.replace(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        opt_state=opt_state,
        rng=jax.random.key_data(rng),
        model_state=model_state,
    )


def train_step(
    objective: Objective, tx, compute, state: TrainState, batch: dict
) -> tuple[TrainState, dict]:
    """One optimisation step with ``tx`` on ``batch`` (this device's part under pmap), the net
    computing in dtype ``compute``: ``(new state, {'loss', 'grad_norm'})`` of the global batch."""
    rng, dropout, sampling = jax.random.split(jax.random.wrap_key_data(state.rng), 3)
    images, labels = batch["image"].astype(compute), batch["label"]
    positions = global_positions(images.shape[0], objective.axis)
    labels = labels if objective.heads else labels[..., None]
    keep = loss_sample(objective.keep_rate, sampling, positions, labels.shape[1:])
    loss_of = partial(
        loss_and_stats,
        objective=objective,
        update_stats=updates_stats(objective.model, state.model_state),
        images=images,
        labels=labels,
        keep=keep,
        denominators=loss_denominators(objective, labels),
        positions=positions,
        dropout=dropout,
    )
    (loss, model_state), grads = jax.value_and_grad(loss_of, has_aux=True)(
        state.params, state.model_state
    )
    loss, grads = (
        device_sum(loss, objective.axis),
        jax.tree.map(partial(device_sum, axis=objective.axis), grads),
    )
    new = apply_gradients(tx, state, grads, rng, model_state)
    return new, {"loss": loss, "grad_norm": optax.tree.norm(grads)}


def make_train_step(
    model: nn.Module,
    tx,
    *,
    normalize: str = "sum",
    class_weights=None,
    keep_rate: float | None = None,
    heads: tuple[str, ...] = (),
    parallel: DataParallel | None = None,
    dtype: str = "float32",
    remat: bool = False,
    aux_weight: float = 0.0,
) -> CompiledStep:
    """``train_step(state, batch) -> (state, {'loss', 'grad_norm'})``, compiled, donating the
    old state; with ``parallel`` both are in its placed form (:mod:`fcn_jax.train.parallel`).

    ``batch`` holds 'image' (N, H, W, C) float32 and 'label' (N, H, W) int32 with 255 void.
    Compiles once per batch shape; shapes are bucketed upstream. With ``heads`` the label is
    (N, H, W, T) and the loss is the sum of the heads' losses.

    Randomness is drawn per example from the step's key folded with the example's position in
    the global batch (dropout masks and loss sampling alike), so a step gives the same result
    however the batch is split over devices and processes.

    ``dtype='bfloat16'`` computes the net in bfloat16 (params, gradients, the optimizer and the
    loss stay float32). ``aux_weight`` adds that times the loss of a ResNet FCN's auxiliary
    head (torchvision trains with 0.5; the net must be built with ``aux=True``). ``remat``
    recomputes the forward pass during the backward pass (one checkpoint around the whole net:
    measured at 500x500 it does not lower peak memory yet).
    """
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"config.dtype={dtype!r}: use 'float32' or 'bfloat16'")
    objective = Objective(model, normalize, class_weights, keep_rate, heads, remat, aux_weight,
                          axis=collective_axis(parallel))  # fmt: skip
    step = partial(train_step, objective, tx, jnp.dtype(dtype))
    return compile_step(step, parallel, compiler_options=step_options(jax.default_backend()))


def make_eval_step(model: nn.Module, num_classes: int | tuple[int, ...], heads=()):
    """``eval_step(variables or params, image, label) -> ([(C, C) confusion per head],
    (N, H, W) predictions of the first head)``. With ``heads`` (names, in order) the label is
    (N, H, W, T) and ``num_classes`` has one count per head."""

    def eval_step(params, image, label):
        out = model.apply(as_variables(params), image)
        if not heads:
            predicted = jnp.argmax(out, axis=-1)
            return [confusion_matrix(label, predicted, num_classes)], predicted
        predicted = [jnp.argmax(out[h], axis=-1) for h in heads]
        confusions = [
            confusion_matrix(label[..., t], predicted[t], num_classes[t]) for t in range(len(heads))
        ]
        return confusions, predicted[0]

    return jax.jit(eval_step)


def evaluate(
    eval_step, params, examples, preprocess, targets, keep: int = 0, bucket: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Confusion matrices (int64, one per head) over ``examples`` and the predictions of the
    first ``keep``. ``preprocess`` maps an example to the net's input, ``targets`` to its labels.

    With ``bucket=0`` each image is scored whole at its own size (native-size scores: one
    compilation per distinct shape). With ``bucket=N`` each side is padded up to a multiple of
    N (the image with 0, the mean after preprocessing; the labels with void) and the scores are
    cropped back to the image: padded pixels are void, so they enter no confusion, and the kept
    predictions have the image's own size. That is one compilation per bucket; the net sees the
    padding near the right and bottom edges, so scores can differ slightly from native ones."""
    totals: list[np.ndarray] = []
    kept = []
    for k, example in enumerate(examples):
        image, label = preprocess(example), np.asarray(targets(example), np.int32)
        if bucket:
            padded = pad_batch([image], [label], bucket)
            batch_image, batch_label = padded["image"], padded["label"]
        else:
            batch_image, batch_label = image[None], label[None]
        confusions, predicted = eval_step(params, batch_image, batch_label)
        confusions = [np.asarray(c, np.int64) for c in confusions]
        totals = (
            confusions if not totals else [a + b for a, b in zip(totals, confusions, strict=True)]
        )
        if k < keep:
            kept.append(np.asarray(predicted[0])[: image.shape[0], : image.shape[1]])
    return totals, kept
