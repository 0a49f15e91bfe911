"""The algebra's boxes against supports measured by autodiff (jax.vjp of one-hot cotangents)."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import pytest
from flax import linen as nn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fcn_jax.geometry import GeometryError, chain
from fcn_jax.geometry.footprint import check_units, measure_supports, probe_units
from fcn_jax.models import ALIGNMENTS, ARCHS, build
from fcn_jax.models.layers import Conv, Deconv, MaxPool
from fcn_jax.models.report import verify

NARROW = 1 / 64


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("align", ALIGNMENTS)
def test_every_net_sees_exactly_its_predicted_boxes(arch, align):
    checks = verify(build(arch, 1, align=align, width=NARROW), 45, 70)
    assert len(checks) > 20
    assert [c for c in checks if not c.ok] == []


def test_receptive_field_of_the_rule_is_measured_exactly():
    # At 440x440 the centre score_fr unit's 404-pixel field lies inside the image.
    checks = verify(build("fcn32s", 1, width=NARROW), 440, 440)
    rule = [c for c in checks if c.layer == "score_fr:rule"]
    assert len(rule) == 1 and rule[0].ok
    (top, bottom), (left, right) = rule[0].measured
    assert bottom - top + 1 == right - left + 1 == 404


def test_a_clipped_box_by_hand():
    # fcn32s caffe, pool3: rf 44, jump 8, offset -95.5 (pad 100 shifts it). Unit 12 is centred
    # at 8*12 - 95.5 = 0.5 and spans 0.5 -+ 21.5 = -21 .. 22: clipped to the image, 0 .. 22.
    mask = measure_supports(build("fcn32s", 1, width=NARROW), 40, 40, [("pool3", (12, 12))])[0]
    assert mask.any(axis=1).nonzero()[0].tolist() == list(range(23))
    assert mask[:23, :23].all() and not mask[23:].any() and not mask[:, 23:].any()


class Stack(nn.Module):
    """A plain chain of f_ks layers."""

    layers: Sequence[tuple]

    @nn.compact
    def __call__(self, x, train=False):
        for i, (kind, k, s, p, ceil) in enumerate(self.layers):
            if kind == "conv":
                x = Conv(1, k, s, p, name=f"l{i}")(x)
            elif kind == "pool":
                x = MaxPool(k, s, p, ceil, name=f"l{i}")(x)
            else:
                x = Deconv(1, k, s, p, name=f"l{i}")(x)
        return x


def ops(layers):
    for kind, k, s, p, ceil in layers:
        cls = {"conv": Conv, "pool": MaxPool, "deconv": Deconv}[kind]
        args = (1, k, s, p) if kind != "pool" else (k, s, p, ceil)
        yield cls(*args, parent=None).op


@st.composite
def layer(draw):
    kind = draw(st.sampled_from(["conv", "pool", "deconv"]))
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    if kind == "pool":
        return kind, k, s, draw(st.integers(0, (k - 1) // 2)), draw(st.booleans())
    return kind, k, s, draw(st.integers(0, k - 1)), False


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer(), min_size=1, max_size=5), st.integers(1, 30), st.integers(1, 30))
def test_random_stacks_see_exactly_their_predicted_boxes(layers, height, width):
    try:
        trace = chain(ops(layers), height, width)
    except GeometryError:
        assume(False)
    size = trace.size
    net = Stack(tuple(layers))
    out = jax.eval_shape(net.init_with_output, jax.random.key(0), jnp.zeros((1, height, width, 3)))
    assert out[0].shape[1:3] == size
    probes = [("output", unit) for unit in probe_units(trace)]
    checks = check_units(net, {"output": trace}, height, width, probes)
    assert [c for c in checks if not c.same_extent] == []
    if all(k >= s for _, k, s, _, _ in layers):  # no kernel skips pixels: no holes
        assert [c for c in checks if not c.is_box] == []
