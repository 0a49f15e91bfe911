"""Pure step functions: the train state, one optimisation step, evaluation, prediction."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import struct

from fcn_jax.data.labels import VOID
from fcn_jax.kernels.compiler import step_options
from fcn_jax.train.losses import loss_denominator, pixel_loss_terms
from fcn_jax.train.metrics import confusion_matrix
from fcn_jax.train.parallel import AXIS, DataParallel


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
) -> TrainStep:
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
    compute = jnp.dtype(dtype)
    axis = AXIS if parallel is not None and parallel.mode == "pmap" else None

    def add(x):
        return x if axis is None else jax.lax.psum(x, axis)

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        rng, dropout, sampling = jax.random.split(jax.random.wrap_key_data(state.rng), 3)
        images, labels = batch["image"].astype(compute), batch["label"]
        n = images.shape[0]
        first = 0 if axis is None else jax.lax.axis_index(axis) * n
        position = first + jnp.arange(n)
        labels = labels[..., None] if not heads else labels
        keep = None
        if keep_rate is not None and keep_rate < 1:
            keys = jax.vmap(partial(jax.random.fold_in, sampling))(position)
            keep = jax.vmap(lambda k: jax.random.bernoulli(k, keep_rate, labels.shape[1:]))(keys)
        valid = add(jnp.sum(labels != VOID, axis=(0, 1, 2)))
        denominators = [
            loss_denominator(normalize, add(n), valid[t]) for t in range(labels.shape[-1])
        ]

        def loss_fn(params, model_state):
            def one(image, key):
                variables = {"params": params, **model_state}
                options = {"train": True, "rngs": {"dropout": key}}
                if aux_weight:  # a ResNet FCN's auxiliary head: {'out': ..., 'aux': ...}
                    options["with_aux"] = True
                if update_stats:  # batch norm in training mode: per-example statistics
                    out, new = model.apply(variables, image[None], mutable=["batch_stats"],
                                           **options)  # fmt: skip
                else:
                    out, new = model.apply(variables, image[None], **options), {}
                return jax.tree.map(lambda a: a[0], out), new

            dropout_keys = jax.vmap(partial(jax.random.fold_in, dropout))(position)
            forward = jax.checkpoint(one) if remat else one
            logits, updated = jax.vmap(forward)(images, dropout_keys)
            aux = []
            if aux_weight:  # the auxiliary head scores the first task's labels
                logits, aux = logits["out"], [(logits["aux"], 0, aux_weight)]
            outputs = [logits[h] for h in heads] if heads else [logits]
            total = 0.0
            for out, t, weight in [(o, t, 1.0) for t, o in enumerate(outputs)] + aux:
                summed, _ = pixel_loss_terms(
                    out,
                    labels[..., t],
                    class_weights=class_weights,
                    keep=None if keep is None else keep[..., t],
                    keep_rate=keep_rate,
                )
                total = total + weight * summed / denominators[t]
            if update_stats:  # the running statistics move by the mean of the examples' updates
                model_state = jax.tree.map(lambda a: add(a.sum(0)) / add(n), updated)
            return total, model_state

        update_stats = bool(state.model_state) and getattr(model, "train_bn", False)
        (loss, model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.model_state
        )
        loss, grads = add(loss), jax.tree.map(add, grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            rng=jax.random.key_data(rng),
            model_state=model_state,
        )
        return new, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    if axis is None:
        shardings = {} if parallel is None else {"out_shardings": parallel.replicated}
        options = step_options(jax.default_backend())
        step = jax.jit(train_step, donate_argnums=0, compiler_options=options, **shardings)
        return TrainStep(step, pmapped=False)
    return TrainStep(
        jax.pmap(train_step, axis_name=AXIS, donate_argnums=0, devices=parallel.local_devices),
        pmapped=True,
    )


class TrainStep:
    """A compiled train step and how many times it compiled (one per batch shape)."""

    def __init__(self, step, pmapped: bool):
        self.step, self.pmapped, self.shapes = step, pmapped, set()

    def __call__(self, state, batch):
        if self.pmapped:  # jit counts its own compilations
            self.shapes.add(tuple(np.shape(v) for v in jax.tree.leaves(batch)))
        state, metrics = self.step(state, batch)
        return state, (jax.tree.map(lambda m: m[0], metrics) if self.pmapped else metrics)

    def compilations(self) -> int:
        return len(self.shapes) if self.pmapped else self.step._cache_size()


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


def make_predict(model: nn.Module):
    """``predict(variables or params, image) -> (N, H, W) int32 labels``."""
    return jax.jit(lambda params, image: jnp.argmax(model.apply(as_variables(params), image), -1))


def evaluate(
    eval_step, params, examples, preprocess, targets, keep: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Confusion matrices (int64, one per head) over ``examples``, each scored whole at its own
    size (no padding, so scores are native-size scores), and the predictions of the first
    ``keep``. ``preprocess`` maps an example to the net's input, ``targets`` to its labels."""
    totals: list[np.ndarray] = []
    kept = []
    for k, example in enumerate(examples):
        image = preprocess(example)[None]
        label = np.asarray(targets(example), np.int32)[None]
        confusions, predicted = eval_step(params, image, label)
        confusions = [np.asarray(c, np.int64) for c in confusions]
        totals = (
            confusions if not totals else [a + b for a, b in zip(totals, confusions, strict=True)]
        )
        if k < keep:
            kept.append(np.asarray(predicted[0]))
    return totals, kept
