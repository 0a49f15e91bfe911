"""fcn-jax export: the deserialized StableHLO's and ONNX Runtime's logits against model.apply."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from fcn_jax.cli import main
from fcn_jax.data.preprocessing import CAFFE_ILSVRC
from fcn_jax.export.stablehlo import SymbolicSizeError, exported, metadata
from fcn_jax.models import build
from fcn_jax.weights.bundle import save_bundle


def _net(arch, align="caffe", classes=5, heads=()):
    model = build(arch, classes, align=align, width=1 / 32, heads=heads)
    variables = model.init(jax.random.PRNGKey(0), np.zeros((1, 40, 40, 3), np.float32))
    leaves, tree = jax.tree.flatten(variables)  # score layers start at zero: make them not
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    noisy = [
        leaf + 0.1 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys, strict=True)
    ]
    return model, jax.tree.unflatten(tree, noisy)


def _agree(exp, model, variables, height, width):
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype(np.float32)
    got = np.asarray(jax.export.deserialize(exp.serialize()).call(x))
    want = np.asarray(model.apply(variables, x))
    assert got.shape == want.shape == (2, height, width, 5)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_fcn8s_caffe_round_trips_with_a_symbolic_batch():
    model, variables = _net("fcn8s")
    exp = exported(model, variables, 36, 44)
    assert str(exp.in_avals[0].shape[0]) == "b"
    _agree(exp, model, variables, 36, 44)


@pytest.mark.slow
@pytest.mark.parametrize("arch,align,size", [("fcn8s", "caffe", (64, 48)),
                                             ("fcn8s", "same", (36, 44)),
                                             ("fcn8s", "same", (64, 48)),
                                             ("fcn-resnet50", "caffe", (40, 40))])  # fmt: skip
def test_more_nets_and_sizes_round_trip(arch, align, size):
    model, variables = _net(arch, align)
    _agree(exported(model, variables, *size), model, variables, *size)


def test_symbolic_height_and_width_are_refused_in_one_line():
    model, variables = _net("fcn8s", "same")
    with pytest.raises(SymbolicSizeError, match="give --height H --width W"):
        exported(model, variables, None, None)


@pytest.mark.slow
def test_the_cli_file_runs_in_a_process_without_fcn_jax(tmp_path):
    model, variables = _net("fcn32s")
    weights = save_bundle(tmp_path / "w", variables["params"], {
        "arch": "fcn32s", "num_classes": 5, "width": 1 / 32, "preprocessing": CAFFE_ILSVRC,
        "class_names": list("abcde")})  # fmt: skip
    out = tmp_path / "net.stablehlo"
    assert main(["export", "--weights", str(weights), "--format", "stablehlo",
                 "--out", str(out), "--height", "32", "--width", "40"]) == 0  # fmt: skip
    meta = json.loads(out.with_name("net.stablehlo.json").read_text())
    assert meta["class_names"] == list("abcde") and meta["preprocessing"]["order"] == "bgr"
    x = np.random.default_rng(2).normal(size=(1, 32, 40, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (f"import jax, numpy as np, sys; e = jax.export.deserialize(open({str(out)!r}, 'rb')"
              f".read()); np.save({str(tmp_path / 'y.npy')!r}, np.asarray(e.call(np.load("
              f"{str(tmp_path / 'x.npy')!r})))); assert 'fcn_jax' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", script], check=True)
    want = np.asarray(model.apply(variables, x))
    got = np.load(tmp_path / "y.npy")
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("argv,message", [
    ([], "exactly one of --workdir and --weights"),
    (["--weights", "w", "--workdir", "r"], "exactly one of --workdir and --weights"),
    (["--weights", "w"], "give --height H and --width W"),
    (["--weights", "w", "--dynamic", "--height", "3"], "not both"),
    (["--weights", "w", "--height", "8", "--width", "8", "--out", "/no/such/dir/f"],
     "not a file in an existing directory"),
])  # fmt: skip
def test_bad_requests_are_one_line(argv, message):
    if "--out" not in argv:
        argv = [*argv, "--out", "f.stablehlo"]
    with pytest.raises(SystemExit, match=message):
        main(["export", "--format", "stablehlo", *argv])


def test_metadata_names_the_preprocessing_and_symbolic_batch():
    model, variables = _net("fcn32s")
    meta = metadata(exported(model, variables, 32, 32), CAFFE_ILSVRC, None, "fcn32s", "caffe")
    assert meta["input"]["shape"] == ["b", "32", "32", "3"]
    assert meta["preprocessing"]["mean"] == list(CAFFE_ILSVRC.mean)


def test_metadata_names_the_heads_outputs():
    model, variables = _net("fcn32s", heads=(("sem", 5), ("geo", 3)))
    exp = exported(model, variables, 32, 32)
    meta = metadata(exp, CAFFE_ILSVRC, None, "fcn32s", "caffe")
    assert meta["outputs"] == {"logits_geo": ["b", "32", "32", "3"],
                               "logits_sem": ["b", "32", "32", "5"]}  # fmt: skip
