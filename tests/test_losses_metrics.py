"""Loss and metrics against independent numpy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcn_jax.data.labels import VOID, check_labels
from fcn_jax.train.losses import pixel_cross_entropy
from fcn_jax.train.metrics import confusion_matrix, scores


def numpy_loss(logits, labels, normalize, weights=None):
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    total, count = 0.0, 0
    for idx in np.ndindex(labels.shape):
        if labels[idx] == VOID:
            continue
        w = 1.0 if weights is None else weights[labels[idx]]
        total += -logp[idx][labels[idx]] * w
        count += 1
    return total / labels.shape[0] if normalize == "sum" else total / count


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 5, 7))
    labels[0, :2] = VOID
    return logits, labels


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_loss_is_the_sum_over_valid_cells(batch, normalize):
    logits, labels = batch
    ours = pixel_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), normalize=normalize)
    np.testing.assert_allclose(ours, numpy_loss(logits, labels, normalize), rtol=1e-5)


def test_class_weights(batch):
    logits, labels = batch
    weights = np.array([0.5, 2.0, 1.0, 3.0])
    ours = pixel_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), class_weights=weights)
    np.testing.assert_allclose(ours, numpy_loss(logits, labels, "sum", weights), rtol=1e-5)


def test_loss_sampling_is_unbiased_and_drops_cells(batch):
    logits, labels = batch
    full = float(pixel_cross_entropy(jnp.asarray(logits), jnp.asarray(labels)))

    def sampled(key):
        return pixel_cross_entropy(
            jnp.asarray(logits), jnp.asarray(labels), keep_rate=0.25, rng=key
        )

    samples = np.asarray(jax.vmap(sampled)(jax.random.split(jax.random.key(0), 4000)))
    assert samples.std() > 0.05 * full  # cells really are dropped
    assert abs(samples.mean() / full - 1) < 0.02
    with pytest.raises(ValueError, match="rng"):
        pixel_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), keep_rate=0.5)


def test_labels_outside_the_classes_are_an_error(batch):
    logits, labels = batch
    labels[1, 3, 4] = 7
    with pytest.raises(ValueError, match=r"\[7\] are outside \[0, 4\).*index \(1, 3, 4\)"):
        pixel_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
    with pytest.raises(ValueError, match=r"mask\.png"):
        check_labels(np.array([[0, -1]]), 3, "mask.png")


def numpy_scores(truth, pred, n):
    """The paper's definitions, written out per class."""
    valid = truth != VOID
    t, p = truth[valid], pred[valid]
    acc, ius, fw = [], [], 0.0
    for c in range(n):
        tc, pc = t == c, p == c
        inter, union = np.sum(tc & pc), np.sum(tc | pc)
        if tc.sum():
            acc.append(inter / tc.sum())
        if union:
            ius.append(inter / union)
            fw += tc.sum() * inter / union
    return {
        "pixel_accuracy": np.mean(t == p),
        "mean_accuracy": np.mean(acc),
        "mean_iu": np.mean(ius),
        "fw_iu": fw / t.size,
    }


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_metrics_match_the_papers_definitions(n, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n, (2, 9, 11))
    truth[rng.random(truth.shape) < 0.1] = VOID
    pred = np.where(rng.random(truth.shape) < 0.6, truth % n, rng.integers(0, n, truth.shape))
    pred[truth == VOID] = rng.integers(0, n)
    conf = np.asarray(confusion_matrix(jnp.asarray(truth), jnp.asarray(pred), n))
    assert conf.sum() == np.sum(truth != VOID)
    ours, ref = scores(conf), numpy_scores(truth, pred, n)
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value)


def test_absent_classes_are_left_out_of_the_means():
    truth = jnp.array([[0, 0, 1, 1]])
    pred = jnp.array([[0, 0, 1, 0]])
    result = scores(np.asarray(confusion_matrix(truth, pred, 4)))
    assert result["per_class_iu"][2:] == [None, None]
    assert result["mean_iu"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert result["mean_accuracy"] == pytest.approx((1 + 1 / 2) / 2)
