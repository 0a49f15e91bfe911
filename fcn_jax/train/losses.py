"""Per-pixel softmax cross-entropy: the paper's loss L = sum over spatial cells of l."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from fcn_jax.data.labels import VOID, check_labels


def pixel_cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    *,
    normalize: str = "sum",
    class_weights: jax.Array | None = None,
    keep_rate: float | None = None,
    rng: jax.Array | None = None,
) -> jax.Array:
    """Softmax cross-entropy of (N, H, W, C) logits against (N, H, W) integer labels.

    Void pixels (255) contribute nothing. ``normalize='sum'`` is the reference's: the sum over
    valid pixels divided by the batch size (the loss of one image is the sum over its cells).
    ``'mean'`` divides by the number of valid pixels. ``class_weights`` (C,) scales each pixel's
    loss by the weight of its true class. ``keep_rate`` < 1 samples the loss (paper section 4.4):
    each cell is kept with that probability (needs ``rng``) and kept cells are scaled by its
    inverse, so the expected loss is unchanged.

    Labels must be valid (:func:`check_labels`); when they are concrete this is checked here.
    """
    keep = None
    if keep_rate is not None and keep_rate < 1:
        if rng is None:
            raise ValueError("loss sampling (keep_rate < 1) needs an rng")
        keep = jax.random.bernoulli(rng, keep_rate, labels.shape)
    total, valid = pixel_loss_terms(
        logits, labels, class_weights=class_weights, keep=keep, keep_rate=keep_rate
    )
    return total / loss_denominator(normalize, labels.shape[0], valid)


def loss_denominator(normalize: str, batch_size, valid_pixels) -> jax.Array:
    """What the summed loss is divided by: the batch size ('sum', the reference's) or the
    number of valid pixels ('mean')."""
    if normalize == "sum":
        return jnp.asarray(batch_size, jnp.float32)
    if normalize == "mean":
        return jnp.maximum(valid_pixels, 1).astype(jnp.float32)
    raise ValueError(f"normalize must be 'sum' or 'mean', got {normalize!r}")


def pixel_loss_terms(
    logits: jax.Array,
    labels: jax.Array,
    *,
    class_weights: jax.Array | None = None,
    keep: jax.Array | None = None,
    keep_rate: float | None = None,
) -> tuple[jax.Array, jax.Array]:
    """(summed weighted cross-entropy, number of valid pixels): the two sums a loss over
    several devices adds up before normalising. ``keep`` is the loss-sampling mask (N, H, W),
    its kept cells scaled by 1 / ``keep_rate``."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not match")
    if not isinstance(labels, jax.core.Tracer):
        check_labels(labels, logits.shape[-1])
    valid = labels != VOID
    safe = jnp.where(valid, labels, 0).astype(jnp.int32)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), safe)
    weight = valid.astype(jnp.float32)
    if class_weights is not None:
        weight = weight * jnp.asarray(class_weights, jnp.float32)[safe]
    if keep is not None:
        weight = weight * keep / keep_rate
    return jnp.sum(losses * weight), jnp.sum(valid)
