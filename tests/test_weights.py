"""from_torchfcn: our caffe-mode nets give the torch reference's logits with its weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcn_jax.models import ARCHS, build
from fcn_jax.weights import from_torchfcn

torch = pytest.importorskip("torch")
from torch_fcn import reference_net  # noqa: E402

SIZES = [(1, 37, 53), (2, 64, 31), (1, 1, 1), (1, 100, 100)]


def torch_logits(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)


def assert_round_off(ours, ref):
    assert ours.shape == ref.shape
    # float32 round-off of a deep net: a few ulps of the largest logit per layer
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max(), np.abs(ours - ref).max()


# GoogLeNet's and ResNet's parity tests are in test_caffemodel.py and test_resnet.py
@pytest.mark.parametrize("arch", [a for a in ARCHS if "googlenet" not in a and "resnet" not in a])
def test_same_logits_as_the_torch_reference(arch):
    net = reference_net(arch, 5, 1 / 16)
    params = from_torchfcn(net.state_dict(), arch)
    apply = jax.jit(build(arch, 5, width=1 / 16).apply)
    for batch, h, w in SIZES:
        x = np.random.default_rng(h * w).standard_normal((batch, h, w, 3)).astype(np.float32)
        assert_round_off(
            np.asarray(apply({"params": params}, jnp.asarray(x))), torch_logits(net, x)
        )


@pytest.mark.slow
def test_full_width_fcn8s_matches_at_a_small_input():
    net = reference_net("fcn8s", 21, 1)
    params = from_torchfcn(net.state_dict(), "fcn8s")
    x = np.random.default_rng(0).standard_normal((1, 24, 20, 3)).astype(np.float32)
    ours = jax.jit(build("fcn8s", 21).apply)({"params": params}, jnp.asarray(x))
    assert_round_off(np.asarray(ours), torch_logits(net, x))


def test_a_flipped_or_transposed_deconvolution_kernel_cannot_pass():
    net = reference_net("fcn8s", 5, 1 / 16)
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    x = np.random.default_rng(1).standard_normal((1, 40, 40, 3)).astype(np.float32)
    ref = torch_logits(net, x)
    apply = jax.jit(build("fcn8s", 5, width=1 / 16).apply)
    for wrong in (
        lambda w: w[:, :, ::-1, ::-1],
        lambda w: w.transpose(1, 0, 2, 3),
        lambda w: w.transpose(0, 1, 3, 2),
    ):
        bad = {**state, "upscore8.weight": np.ascontiguousarray(wrong(state["upscore8.weight"]))}
        out = np.asarray(apply({"params": from_torchfcn(bad, "fcn8s")}, jnp.asarray(x)))
        assert np.abs(out - ref).max() > 1e-2 * np.abs(ref).max()


def test_bad_state_dicts_are_named():
    state = {k: v.numpy() for k, v in reference_net("fcn16s", 5, 1 / 16).state_dict().items()}
    missing = {k: v for k, v in state.items() if k != "score_pool4.bias"}
    with pytest.raises(KeyError, match=r"layer 'score_pool4' has 1 blob.*takes bias"):
        from_torchfcn(missing, "fcn16s")
    with pytest.raises(KeyError, match=r"does not use: upscore8"):
        from_torchfcn({**state, "upscore8.weight": state["upscore16.weight"]}, "fcn16s")
    assert "fc6" in from_torchfcn({**state, "extra.weight": np.zeros(1)}, "fcn16s", strict=False)
    wrong = {**state, "fc7.weight": state["fc7.weight"][:, :-1]}
    with pytest.raises(ValueError, match=r"'fc7' weight of shape \(256, 255, 1, 1\) does not fit"):
        from_torchfcn(wrong, "fcn16s")
    with pytest.raises(KeyError, match=r"layer 'conv1_1' has 1 blob"):
        from_torchfcn({"conv1_1.weight": state["conv1_1.weight"]}, "fcn16s")


def test_imported_params_serve_the_same_alignment_too():
    state = reference_net("fcn32s", 4, 1 / 16).state_dict()
    params = from_torchfcn(state, "fcn32s")
    out = build("fcn32s", 4, width=1 / 16, align="same").apply(
        {"params": params}, jnp.ones((1, 33, 47, 3))
    )
    assert out.shape == (1, 33, 47, 4)
