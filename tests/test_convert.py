"""fcn-jax convert / predict --weights / init_from: torchvision, timm and torchfcn files become
params that give the torch logits, carry their preprocessing, and start training."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from tiny_run import tiny_config

from fcn_jax import cli
from fcn_jax.data.preprocessing import CAFFE_ILSVRC, TORCHVISION, Normalisation
from fcn_jax.models import build
from fcn_jax.models.layers import bilinear_kernel
from fcn_jax.train.loop import train_and_evaluate
from fcn_jax.train.spec import RunSpec
from fcn_jax.weights import from_torchvision_vgg16, load_bundle, save_bundle
from fcn_jax.weights.bundle import BundleError
from fcn_jax.weights.surgery import resize_classes

torch = pytest.importorskip("torch")
from torchvision_vgg import random_vgg16  # noqa: E402

WIDTH, FC, CLASSES = 1 / 16, 256, 10  # fc: 4096 at width 1/16


@pytest.fixture(scope="module")
def vgg():
    return random_vgg16(WIDTH, FC, CLASSES)


def numpy_state(net) -> dict:
    return {k: v.numpy() for k, v in net.state_dict().items()}


def torch_scores(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()


def timm_state(state: dict) -> dict:
    """The same weights under timm's VGG16 names: fc6/fc7 as convs in ``pre_logits``."""
    c = state["features.28.weight"].shape[0]
    timm = {k: v for k, v in state.items() if k.startswith("features")}
    timm["pre_logits.fc1.weight"] = state["classifier.0.weight"].reshape(FC, c, 7, 7)
    timm["pre_logits.fc2.weight"] = state["classifier.3.weight"].reshape(FC, FC, 1, 1)
    timm["head.fc.weight"] = state["classifier.6.weight"]
    for src, dst in [("classifier.0", "pre_logits.fc1"), ("classifier.3", "pre_logits.fc2"),
                     ("classifier.6", "head.fc")]:  # fmt: skip
        timm[f"{dst}.bias"] = state[f"{src}.bias"]
    return timm


@pytest.mark.parametrize("fmt", ["torchvision", "timm"])
def test_convert_vgg16_gives_the_torch_logits_from_every_file_format(vgg, fmt, tmp_path):
    from safetensors.numpy import save_file

    state = numpy_state(vgg) if fmt == "torchvision" else timm_state(numpy_state(vgg))
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "w.pth")
    np.savez(tmp_path / "w.npz", **state)
    save_file(state, tmp_path / "w.safetensors")
    x = np.random.default_rng(0).standard_normal((2, 224, 224, 3)).astype(np.float32)
    ref = torch_scores(vgg, x)
    apply = jax.jit(build("vgg16", CLASSES, width=WIDTH).apply)
    for suffix in ("pth", "npz", "safetensors"):
        out = tmp_path / f"out_{suffix}"
        assert cli.main(["convert", "--from", fmt, str(tmp_path / f"w.{suffix}"),
                         "--arch", "vgg16", "--out", str(out)]) == 0  # fmt: skip
        params, meta = load_bundle(out)
        assert meta["preprocessing"] == TORCHVISION and meta["num_classes"] == CLASSES
        ours = np.asarray(apply({"params": params}, jnp.asarray(x)))[:, 0, 0]
        assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()


def test_a_classifier_becomes_an_fcn_with_fc8_dropped(vgg):
    state = numpy_state(vgg)
    params = from_torchvision_vgg16(state, "fcn32s", num_classes=4)
    assert "fc8" not in params
    c = state["features.28.weight"].shape[0]
    # torch flattens pool5 in (C, H, W) order: fc6 input c*49 + a*7 + b is position (a, b)
    w6 = state["classifier.0.weight"]
    for a, b, ch, o in [(0, 0, 0, 0), (2, 5, c - 1, 7), (6, 6, 3, FC - 1)]:
        assert params["fc6"]["kernel"][a, b, ch, o] == w6[o, ch * 49 + a * 7 + b]
    assert params["conv3_2"]["kernel"][1, 2, 3, 4] == state["features.12.weight"][4, 3, 1, 2]
    assert not params["score_fr"]["kernel"].any() and not params["score_fr"]["bias"].any()
    np.testing.assert_allclose(params["upscore"]["kernel"], bilinear_kernel(64, 4, 4))


def test_a_classifier_heatmap_and_a_clear_error_without_a_class(vgg, tmp_path, capsys):
    np.savez(tmp_path / "w.npz", **numpy_state(vgg))
    cli.main(["convert", "--from", "torchvision", str(tmp_path / "w.npz"), "--arch", "vgg16",
              "--out", str(tmp_path / "w")])  # fmt: skip
    image = tmp_path / "cat.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 260, 3), np.uint8)).save(image)
    with pytest.raises(SystemExit, match="--heatmap CLASS"):
        cli.main(["predict", "--weights", str(tmp_path / "w"), str(image), "--out", str(tmp_path)])
    cli.main(["predict", "--weights", str(tmp_path / "w"), str(image), "--out", str(tmp_path / "p"),
              "--heatmap", "3"])  # fmt: skip
    assert "RGB minus mean" in capsys.readouterr().err
    score = np.load(tmp_path / "p" / "cat_heat_3.npy")
    # Caffe's ceil-mode pools: 300 -> 150, 75, 38, 19, 10, fc6 (7x7) -> 4 rows;
    # 260 -> 130, 65, 33, 17, 9 -> 3 columns
    assert score.shape == (4, 3) and ((score > 0) & (score < 1)).all()
    width, height = Image.open(tmp_path / "p" / "cat_heat_3.png").size
    assert width > 260 + 50 and height > 300 + 10  # the image at its own pixels, a colour bar
    # beside it and the class's name above
    with pytest.raises(SystemExit, match=r"no class '10'.*\[0, 10\)"):
        cli.main(["predict", "--weights", str(tmp_path / "w"), str(image), "--out",
                  str(tmp_path / "q"), "--heatmap", "10"])  # fmt: skip


def test_normalisations_are_the_published_ones():
    rgb = np.random.default_rng(2).integers(0, 256, (5, 7, 3), np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(TORCHVISION.apply(rgb), (rgb / 255 - mean) / std, atol=1e-5)
    bgr_mean = np.array([104.00698793, 116.66876762, 122.67891434])
    np.testing.assert_allclose(CAFFE_ILSVRC.apply(rgb), rgb[..., ::-1] - bgr_mean, atol=1e-4)


def test_resizing_the_classes_keeps_the_chosen_ones():
    rng = np.random.default_rng(3)
    params = {"score_fr": {"kernel": rng.standard_normal((1, 1, 8, 5)), "bias": np.arange(5.0)},
              "upscore2": {"kernel": rng.standard_normal((4, 4, 5, 5))},
              "fc7": {"kernel": np.ones((1, 1, 8, 8)), "bias": np.ones(8)}}  # fmt: skip
    out = resize_classes(params, 3, keep=[4, 0, -1])
    np.testing.assert_array_equal(out["score_fr"]["bias"], [4.0, 0.0, 0.0])
    kernel = params["score_fr"]["kernel"]
    np.testing.assert_array_equal(out["score_fr"]["kernel"][..., 0], kernel[..., 4])
    assert not out["score_fr"]["kernel"][..., 2].any()
    up = out["upscore2"]["kernel"]
    assert up[1, 2, 0, 1] == params["upscore2"]["kernel"][1, 2, 4, 0]
    np.testing.assert_array_equal(up[:, :, 2, 2], bilinear_kernel(4, 1, 1)[:, :, 0, 0])
    assert not up[:, :, 2, 0].any() and out["fc7"] is params["fc7"]
    with pytest.raises(ValueError, match=r"keep names classes \[5\]"):
        resize_classes(params, 2, keep=[0, 5])


def test_a_broken_weights_directory_is_named(tmp_path):
    save_bundle(tmp_path, {"fc7": {"bias": np.ones(3)}}, {"arch": "fcn32s", "num_classes": 3,
                "width": 1.0, "preprocessing": TORCHVISION})  # fmt: skip
    meta = json.loads((tmp_path / "weights.json").read_text())
    meta["preprocessing"]["std"] = [1, 0, 1]
    (tmp_path / "weights.json").write_text(json.dumps(meta))
    with pytest.raises(
        BundleError, match=r"weights\.json: preprocessing\.std must be 3 numbers > 0"
    ):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match=r"no weights\.json"):
        load_bundle(tmp_path / "elsewhere")


@pytest.mark.slow
def test_init_from_converted_weights_trains_with_their_preprocessing(tmp_path, capsys):
    config = tiny_config(total_steps=1, eval_every=1, checkpoint_every=1)
    module = build(config.arch, 6, width=config.width)
    x = np.zeros((1, 64, 64, 3), np.float32)
    params = jax.tree.map(np.asarray, module.init(jax.random.key(5), x)["params"])
    save_bundle(tmp_path / "w", params, {"arch": config.arch, "num_classes": 6,
                "width": config.width, "preprocessing": TORCHVISION})  # fmt: skip
    config.init_from = str(tmp_path / "w")
    train_and_evaluate(config, tmp_path / "run")
    assert "preprocessing stored with" in capsys.readouterr().out
    model = json.loads(
        next((tmp_path / "run" / "checkpoints").glob("*/model/metadata")).read_text()
    )
    assert model["preprocessing"] == TORCHVISION.to_json()
    colour = RunSpec.from_json(model, "run").input_means()["color"]
    assert isinstance(colour, Normalisation) and colour == TORCHVISION


def test_staged_conversion_from_fcn32s_weights_to_fcn16s(tmp_path, capsys):
    from torch_fcn import reference_net

    state = reference_net("fcn32s", 5, 1 / 16).state_dict()
    torch.save(state, tmp_path / "fcn32s.pth")
    cli.main(["convert", "--from", "torchfcn", str(tmp_path / "fcn32s.pth"), "--arch", "fcn16s",
              "--keep-classes", "0,3", "--out", str(tmp_path / "w")])  # fmt: skip
    out = capsys.readouterr().out
    assert "initialised 3 new layers: score_pool4, upscore16, upscore2" in out
    assert "dropped: upscore" in out and "BGR minus mean" in out
    params, meta = load_bundle(tmp_path / "w")
    assert meta["num_classes"] == 2 and meta["kept_classes"] == [0, 3]
    np.testing.assert_array_equal(params["fc7"]["bias"], state["fc7.bias"].numpy())
    np.testing.assert_array_equal(
        params["score_fr"]["bias"], state["score_fr.bias"].numpy()[[0, 3]]
    )
    assert not params["score_pool4"]["kernel"].any()
    with pytest.raises(SystemExit, match=r"fcn32s\.pth has no layer 'conv1'"):
        cli.main(["convert", "--from", "torchfcn", str(tmp_path / "fcn32s.pth"), "--arch",
                  "fcn-alexnet", "--out", str(tmp_path / "x")])  # fmt: skip


def test_imports_that_would_half_load_are_refused(tmp_path):
    from torch_fcn import reference_net

    from fcn_jax.train.init_from import InitError
    from fcn_jax.weights import from_torchfcn

    state = {k: v.numpy() for k, v in reference_net("fcn8s", 5, 1 / 16).state_dict().items()}
    for layer in ("score_pool3", "upscore8"):  # the file is an FCN-8s: nothing may start fresh
        partial = {k: v for k, v in state.items() if not k.startswith(f"{layer}.")}
        with pytest.raises(KeyError, match=rf"no layer {layer}.*nothing may start fresh"):
            from_torchfcn(partial, "fcn8s")
    with pytest.raises(ValueError, match=r"more than once"):
        resize_classes(from_torchfcn(state, "fcn8s"), 2, keep=[1, 1])
    np.savez(tmp_path / "fcn8s.npz", **state)
    with pytest.raises(SystemExit, match=r"keep.*not with num_classes"):
        cli.main(["convert", "--from", "torchfcn", str(tmp_path / "fcn8s.npz"), "--arch",
                  "fcn8s", "--num-classes", "7", "--keep-classes", "0,1", "--out",
                  str(tmp_path / "x")])  # fmt: skip
    config = tiny_config(total_steps=1)  # a state dict whose names the net does not have
    np.savez(tmp_path / "other.npz", **{"features.0.weight": state["conv1_1.weight"]})
    config.init_from = str(tmp_path / "other.npz")
    with pytest.raises(InitError, match=r"no layer's name and shapes match"):
        train_and_evaluate(config, tmp_path / "run")


def test_a_bundle_is_read_whole_or_not_at_all(tmp_path):
    import os

    meta = {"arch": "fcn32s", "num_classes": 3, "width": 1.0, "preprocessing": TORCHVISION}
    save_bundle(tmp_path / "a", {"fc7": {"bias": np.ones(3)}}, meta)
    save_bundle(tmp_path / "b", {"fc7": {"bias": np.zeros(3)}}, meta)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a" / "params.npz").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "a" / "params.npz").write_bytes((tmp_path / "b" / "params.npz").read_bytes())
    with pytest.raises(BundleError, match=r"two different writes"):
        load_bundle(tmp_path / "a")
    data = (tmp_path / "b" / "params.npz").read_bytes()
    (tmp_path / "b" / "params.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"params\.npz: cannot read it"):
        load_bundle(tmp_path / "b")
