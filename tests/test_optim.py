"""The reference solver's parameter groups: decay, bias rate, frozen layers, accumulation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fcn_jax.train.optim import make_optimizer, param_groups


def params():
    return {
        "fc6": {"kernel": jnp.full((3,), 2.0), "bias": jnp.full((3,), 2.0)},
        "upscore2": {"kernel": jnp.full((4,), 1.0)},
    }


def run(tx, p, grads):
    state = tx.init(p)
    for g in grads:
        updates, state = tx.update(g, state, p)
        p = optax.apply_updates(p, updates)
    return p


def test_groups_follow_layer_and_leaf_names():
    labels = param_groups(params(), frozen_layers=["upscore2"])
    assert labels == {"fc6": {"kernel": "weight", "bias": "bias"}, "upscore2": {"kernel": "frozen"}}


def test_reference_sgd_by_hand():
    # Caffe: v <- m v + lr (g + wd w); w <- w - v. Weights: lr 0.1, decay 0.5; biases: lr 0.2.
    tx = make_optimizer(
        params(), learning_rate=0.1, momentum=0.9, weight_decay=0.5, frozen_layers=["upscore2"]
    )
    g = jax.tree.map(jnp.ones_like, params())
    out = run(tx, params(), [g, g])
    w, v = 2.0, 0.0
    b, vb = 2.0, 0.0
    for _ in range(2):
        v = 0.9 * v + 0.1 * (1 + 0.5 * w)
        w -= v
        vb = 0.9 * vb + 0.2 * 1
        b -= vb
    np.testing.assert_allclose(out["fc6"]["kernel"], w, rtol=1e-6)
    np.testing.assert_allclose(out["fc6"]["bias"], b, rtol=1e-6)


def test_frozen_layers_do_not_move_even_under_weight_decay():
    tx = make_optimizer(params(), learning_rate=1.0, weight_decay=0.1, frozen_layers=["upscore2"])
    g = jax.tree.map(jnp.ones_like, params())
    out = run(tx, params(), [g] * 3)
    np.testing.assert_array_equal(out["upscore2"]["kernel"], params()["upscore2"]["kernel"])
    assert not np.allclose(out["fc6"]["kernel"], 2.0)


def test_bias_rate_is_twice_the_weight_rate():
    tx = make_optimizer(params(), learning_rate=0.01, momentum=0.0, weight_decay=0.0)
    g = jax.tree.map(jnp.ones_like, params())
    out = run(tx, params(), [g])
    moved_w = 2.0 - float(out["fc6"]["kernel"][0])
    moved_b = 2.0 - float(out["fc6"]["bias"][0])
    assert moved_b / moved_w == pytest.approx(2.0)


def test_accumulation_sums_gradients_like_iter_size():
    tx = make_optimizer(
        params(), learning_rate=0.1, momentum=0.0, weight_decay=0.0, accumulate_steps=2
    )
    g1 = jax.tree.map(jnp.ones_like, params())
    g2 = jax.tree.map(lambda x: 3 * jnp.ones_like(x), params())
    one = run(tx, params(), [g1])
    np.testing.assert_array_equal(one["fc6"]["kernel"], 2.0)  # no update after one micro-step
    two = run(tx, params(), [g1, g2])
    np.testing.assert_allclose(two["fc6"]["kernel"], 2.0 - 0.1 * 4, rtol=1e-6)


def test_bad_recipe_names_are_refused():
    with pytest.raises(ValueError, match="schedule"):
        make_optimizer(params(), lr_schedule="cosine")
    with pytest.raises(ValueError, match="optimizer name"):
        make_optimizer(params(), name="lamb")
