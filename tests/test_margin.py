"""The zero margin's constant, computed small: the plan's regions against the values of the
whole canvas, and the framed nets against XLA's plain whole-canvas convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from fcn_jax.geometry import margin
from fcn_jax.models import build
from fcn_jax.models import margin as framed
from fcn_jax.models.layers import call
from fcn_jax.models.vgg import vgg16


class Layers(nn.Module):
    """VGG16's first layers, each output kept, on the plain XLA path."""

    count: int

    @nn.compact
    def __call__(self, x):
        outs = []
        for layer in vgg16(width=1 / 16)[: self.count]:
            x = call(layer, x, False, "xla")
            outs.append((layer, x))
        return outs


def test_the_plan_names_the_cells_the_image_and_the_edges_reach():
    """Run the first 17 layers (to pool3) on two random images. Per the plan, the window is
    where they differ, the bands are equal in both yet not the constant, and the rest holds one
    value per channel; checked at every layer on both axes."""
    h, w = 23, 30
    net = Layers(17)
    a, b = (jax.random.normal(jax.random.key(k), (1, h, w, 3)) for k in (1, 2))
    params = net.init(jax.random.key(0), a)
    params = jax.tree.map(
        lambda p: p + 0.05 * jax.random.normal(jax.random.key(3), p.shape), params
    )
    outs_a, outs_b = net.apply(params, a), net.apply(params, b)
    layers = [layer for layer, _ in outs_a]
    ops = [framed.spatial_op(layer, False) for layer in layers]
    rows, cols = (margin.plan(n, [op for op in ops if op]) for n in (h, w))
    assert len(rows) == len(cols) == 10  # the 7 convs and 3 pools
    spatial = [i for i, op in enumerate(ops) if op]
    checked = 0
    for i, r, c in zip(spatial, rows, cols, strict=True):
        for j in [i] + ([i + 1] if i + 1 < len(layers) and not ops[i + 1] else []):  # + its ReLU
            xa, xb = np.asarray(outs_a[j][1][0]), np.asarray(outs_b[j][1][0])
            assert xa.shape[:2] == (r.out.size, c.out.size)
            differs = np.abs(xa - xb).max(axis=-1) > 0
            window = np.zeros_like(differs)
            window[r.out.lo : r.out.hi, c.out.lo : c.out.hi] = True
            assert not differs[~window].any()  # outside the window no image reaches
            assert differs[window].mean() > 0.5  # the window is not needlessly wide
            band = np.ones_like(window)
            band[r.out.band_lo : r.out.size - r.out.band_hi,
                 c.out.band_lo : c.out.size - c.out.band_hi] = False  # fmt: skip
            rest = ~window & ~band
            fill = xa[rest]
            assert rest.any() and np.allclose(fill, fill[0], atol=1e-6, rtol=1e-6)
            if band.any() and j == i and layers[i].name != "conv1_1":
                assert not np.allclose(xa[band], fill[0], atol=1e-6)  # the bands are not it
            checked += 1
    assert checked == 17


def perturbed(variables, scale=0.1):
    leaves, tree = jax.tree.flatten(variables)
    keys = jax.random.split(jax.random.key(7), len(leaves))
    noisy = [v + scale * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys, strict=True)]
    return jax.tree.unflatten(tree, noisy)


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    ("arch", "size"),
    [("fcn8s", (37, 53)), pytest.param("fcn8s", (64, 64), marks=SLOW),
     pytest.param("fcn16s", (101, 77), marks=SLOW), pytest.param("fcn32s", (1, 1), marks=SLOW),
     ("fcn-alexnet", (75, 61)), pytest.param("fcn8s-atonce", (48, 33), marks=SLOW)],
)  # fmt: skip
def test_framed_nets_give_the_whole_canvas_logits_and_gradients(arch, size):
    """The framed early layers against XLA's plain convolutions on the whole canvas: logits and
    every gradient within 1e-4 of its largest (float32 sums over every pixel round
    differently); the framing is on: the plan is not empty."""
    net = build(arch, num_classes=5, width=1 / 16)
    x = jax.random.normal(jax.random.key(1), (2, *size, 3))
    variables = perturbed(net.init(jax.random.key(0), x))
    assert framed.planned(tuple(net.clone(parent=None).trunk()), *size, False) is not None

    def loss(v, model):
        logits = model.apply(v, x)
        return (logits * jnp.linspace(-1, 1, logits.size).reshape(logits.shape)).sum(), logits

    both = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
    (_, ours), grads = both(variables, net)
    (_, plain), plain_grads = both(variables, net.clone(kernels="xla"))
    assert np.abs(ours - plain).max() <= 1e-5 * np.abs(plain).max()
    for g, p in zip(jax.tree.leaves(grads), jax.tree.leaves(plain_grads), strict=True):
        assert np.abs(g - p).max() <= 1e-4 * np.abs(p).max() + 1e-30


def test_only_a_margin_is_framed():
    """Caffe alignment's 100-pixel margin frames VGG16 to pool4 at 500x500 on a 106-cell
    margin canvas; the other alignment (conv1_1 padded by 1) has no margin to frame."""
    caffe = build("fcn8s", num_classes=21, width=1 / 16)
    plan = framed.planned(tuple(caffe.clone(parent=None).trunk()), 500, 500, False)
    assert plan.layers[-1].name == "pool4"
    assert (plan.rows[0].out.lo, plan.rows[0].out.hi, plan.rows[0].out.size) == (98, 600, 698)
    other = build("fcn8s", num_classes=21, width=1 / 16, align="same")
    assert framed.planned(tuple(other.clone(parent=None).trunk()), 500, 500, False) is None
