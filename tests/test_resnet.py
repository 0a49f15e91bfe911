"""Dilated ResNet FCNs: torchvision's fcn_resnet50/101 weights give torchvision's logits (main
and auxiliary head); ImageNet ResNet weights start an FCN; the geometry is measured."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcn_jax.models import build
from fcn_jax.models.report import geometry_table, verify
from fcn_jax.weights import from_torchvision_resnet, import_layers
from fcn_jax.weights.naming import resnet_layers

torch = pytest.importorskip("torch")
from torch_resnet import random_fcn_resnet  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("depth", [50, 101])
def test_torchvision_fcn_resnet_weights_give_its_logits(depth):
    net = random_fcn_resnet(depth, 5, 1 / 16, seed=depth)
    variables = from_torchvision_resnet(net.state_dict(), f"fcn-resnet{depth}")
    model = build(f"fcn-resnet{depth}", 5, width=1 / 16, aux=True)
    apply = jax.jit(lambda v, x: model.apply(v, x, with_aux=True))
    for shape in [(1, 67, 90, 3), (2, 33, 40, 3)]:
        x = np.random.default_rng(shape[1]).standard_normal(shape).astype(np.float32)
        ours = apply(variables, jnp.asarray(x))
        with torch.no_grad():
            ref = net(torch.from_numpy(x.transpose(0, 3, 1, 2)))
        for key in ("out", "aux"):
            r = ref[key].numpy().transpose(0, 2, 3, 1)
            assert ours[key].shape == r.shape
            assert np.abs(np.asarray(ours[key]) - r).max() <= 1e-5 * np.abs(r).max()


@pytest.mark.slow
def test_imagenet_resnet_weights_start_an_fcn_with_fresh_heads():
    net = random_fcn_resnet(50, 5, 1 / 16, aux=False)
    state = {k.removeprefix("backbone."): v.numpy() for k, v in net.state_dict().items()
             if k.startswith("backbone.")}  # fmt: skip
    state["fc.weight"], state["fc.bias"] = np.ones((10, 128), np.float32), np.ones(10, np.float32)
    done = import_layers(resnet_layers(state, "resnet50"), "fcn-resnet50", "resnet50")
    assert done.dropped == ["fc1000"] and set(done.fresh) == {"head_conv", "head_bn", "score_fr"}
    assert done.meta["num_classes"] == 21 and done.meta["aux"] is False
    stats = done.batch_stats["bn4c_branch2b"]
    np.testing.assert_array_equal(stats["var"], state["layer3.2.bn2.running_var"])
    # conv (out, in, kh, kw) -> (kh, kw, in, out); the dilated 3x3 of stage 5
    w = state["layer4.1.conv2.weight"]
    assert done.params["res5b_branch2b"]["kernel"][2, 0, 3, 1] == w[1, 3, 2, 0]
    fresh = done.batch_stats["head_bn"]  # a new batch norm: mean 0, variance 1
    assert not fresh["mean"].any() and (fresh["var"] == 1).all()


def test_dilated_resnet_geometry_by_hand_and_by_autodiff():
    # conv1 7, pool +2*2 = 11; stage 2: 3 blocks +2*4 each = 35; stage 3: stride-2 block
    # +2*4 = 43, 3 blocks +2*8 = 91; stage 4: +2*8, 5 blocks dilated 2 (+4*8) = 267; stage 5:
    # +4*8, 2 blocks dilated 4 (+8*8) = 427; the head's 3x3: +2*8 = 443. Output stride 8.
    table = geometry_table(build("fcn-resnet50", 21), 500, 500)
    assert (table["receptive_field"], table["max_stride"]) == (443, 8)
    assert table["layers"][-1]["size"] == [500, 500]
    # torchvision's bilinear resize is not pixel-aligned: at 500, 63 cells at stride 8 (unit 0
    # on pixel 0) stretched to 500 put output y on input 8 * ((y + 1/2) * 63 / 500 - 1/2)
    # = 1.008 y - 3.496
    last = table["layers"][-1]
    assert (last["jump"], last["offset"]) == (1.008, -3.496)
    checks = verify(build("fcn-resnet50", 1, width=1 / 64), 45, 70)
    assert len(checks) >= 15 and all(c.ok for c in checks)


@pytest.mark.slow
def test_batch_norm_statistics_train_or_stay_frozen_and_are_checkpointed(tmp_path, capsys):
    from tiny_run import tiny_config

    from fcn_jax import cli
    from fcn_jax.train.checkpoint import restore_variables
    from fcn_jax.train.loop import train_and_evaluate

    config = tiny_config(arch="fcn-resnet50", width=1 / 64, total_steps=2, eval_every=2,
                         checkpoint_every=2, train_bn=True)  # fmt: skip
    train_and_evaluate(config, tmp_path / "trained")
    stats = restore_variables(tmp_path / "trained")["batch_stats"]
    assert set(stats) >= {"bn_conv1", "bn5c_branch2c", "head_bn"}
    # from mean 0 / variance 1, two momentum-0.9 updates move them
    assert np.abs(np.asarray(stats["bn_conv1"]["mean"])).max() > 0
    assert cli.main(["eval", "--workdir", str(tmp_path / "trained"), "--json"]) == 0
    assert "mean_iu" in capsys.readouterr().out

    frozen = tiny_config(arch="fcn-resnet50", width=1 / 64, total_steps=2, eval_every=2,
                         checkpoint_every=2, init_from=str(tmp_path / "trained"))  # fmt: skip
    train_and_evaluate(frozen, tmp_path / "frozen")
    after = restore_variables(tmp_path / "frozen")["batch_stats"]
    jax.tree.map(np.testing.assert_array_equal, after, stats)  # copied, then left alone


@pytest.mark.slow
def test_the_auxiliary_loss_is_added_with_its_weight():
    import optax

    from fcn_jax.train.step import init_state, make_train_step

    model = build("fcn-resnet50", 3, width=1 / 64, aux=True)
    rng = np.random.default_rng(0)
    batch = {"image": rng.standard_normal((2, 40, 48, 3)).astype(np.float32),
             "label": rng.integers(0, 3, (2, 40, 48)).astype(np.int32)}  # fmt: skip
    state = init_state(model, optax.sgd(0.0), (1, 40, 48, 3), seed=0)
    losses = {}
    for weight in (0.0, 0.5, 1.0):
        step = make_train_step(model, optax.sgd(0.0), aux_weight=weight)
        fresh = jax.tree.map(jnp.array, state)  # the step donates its input
        losses[weight] = float(step(fresh, batch)[1]["loss"])
    aux = losses[1.0] - losses[0.0]  # the same dropout masks in every run
    assert aux > 0.1
    np.testing.assert_allclose(losses[0.5] - losses[0.0], aux / 2, rtol=1e-4)
