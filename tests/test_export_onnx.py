"""fcn-jax export --format onnx: ONNX Runtime's logits against model.apply, the graph's
operators, its metadata, the standalone example script, and the refusals."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image
from test_export import _net

from fcn_jax.cli import main
from fcn_jax.data.preprocessing import CAFFE_ILSVRC, TORCHVISION
from fcn_jax.export import onnx as onnx_export
from fcn_jax.export.stablehlo import SymbolicSizeError, exported
from fcn_jax.weights.bundle import save_bundle

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("jax2onnx")
EXAMPLE = Path(__file__).parents[1] / "examples" / "segment_onnx.py"
TWO_HEADS = (("sem", 5), ("geo", 3))  # SIFT Flow's semantic and geometric heads, narrowed


def _run(proto, x):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"image": x}), strict=True))


def _want(model, variables, x):
    out = model.apply(variables, x)
    if not isinstance(out, dict):
        return {"logits": np.asarray(out)}
    return {f"logits_{k}": np.asarray(v) for k, v in out.items()}


def _close(got: dict, want: dict):
    assert got.keys() == want.keys()
    for name, w in want.items():
        assert got[name].shape == w.shape, name
        assert np.abs(got[name] - w).max() <= 1e-5 * np.abs(w).max(), name


def _both_formats_agree(arch, align, heads, height, width, stablehlo=True):
    model, variables = _net(arch, align, heads=heads)
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype(np.float32)
    want = _want(model, variables, x)
    proto = onnx_export.onnx_model(model, variables, height, width)
    _close(_run(proto, x), want)
    if not stablehlo:  # tests/test_export.py has it
        return proto
    call = jax.export.deserialize(exported(model, variables, height, width).serialize()).call
    got = call(x)
    got = got if isinstance(got, dict) else {"": got}
    _close({f"logits_{k}".rstrip("_"): np.asarray(v) for k, v in got.items()}, want)
    return proto


@pytest.mark.slow  # jax2onnx's first conversion in a process loads its plugins: 15 s
def test_fcn8s_runs_in_onnxruntime_with_standard_operators():
    proto = _both_formats_agree("fcn8s", "caffe", (), 36, 44, stablehlo=False)
    ops = Counter(n.op_type for n in proto.graph.node)
    assert {"Conv", "ConvTranspose", "MaxPool", "Relu", "Add", "Slice"} <= set(ops)
    assert not {"OneHot", "ArgMax", "Where"} & set(ops)  # the tiled max's gradient form is out
    assert ops["Conv"] == 18 and ops["ConvTranspose"] == 3 and ops["MaxPool"] == 5
    assert proto.opset_import[0].version >= 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "B"


@pytest.mark.slow
@pytest.mark.parametrize("arch,align,heads", [("fcn8s", "caffe", ()), ("fcn8s", "same", ()),
                                              ("fcn8s-atonce", "caffe", ()),
                                              ("fcn8s", "caffe", TWO_HEADS),
                                              ("fcn-resnet50", "caffe", ())])  # fmt: skip
@pytest.mark.parametrize("size", [(40, 40), (64, 52)])
def test_every_kind_of_net_agrees_at_two_sizes(arch, align, heads, size):
    proto = _both_formats_agree(arch, align, heads, *size)
    if "resnet" in arch:  # batch norm folded into the convolutions' multiply and add
        assert "BatchNormalization" not in {n.op_type for n in proto.graph.node}


@pytest.mark.slow
def test_normalisation_inside_takes_raw_rgb():
    model, variables = _net("fcn32s")
    rgb = np.random.default_rng(3).uniform(0, 255, size=(1, 32, 40, 3)).astype(np.float32)
    by_hand = ((rgb - np.float32(TORCHVISION.mean)) / np.float32(TORCHVISION.std))[..., ::-1]
    want = np.asarray(model.apply(variables, np.ascontiguousarray(by_hand)))  # BGR by hand
    got = _run(onnx_export.onnx_model(model, variables, 32, 40, CAFFE_ILSVRC._replace(
        mean=TORCHVISION.mean, std=TORCHVISION.std)), rgb)["logits"]  # fmt: skip
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_symbolic_height_and_width_are_refused():
    model, variables = _net("fcn32s")
    with pytest.raises(SymbolicSizeError, match="give --height H --width W"):
        onnx_export.onnx_model(model, variables, None, None)


def test_without_jax2onnx_the_message_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "jax2onnx", None)  # import jax2onnx raises ImportError
    with pytest.raises(SystemExit, match=r"needs jax2onnx.*pip install 'fcn-jax\[onnx\]'"):
        main(["export", "--format", "onnx", "--weights", str(tmp_path), "--height", "8",
              "--width", "8", "--out", str(tmp_path / "f.onnx")])  # fmt: skip


@pytest.mark.slow
def test_the_example_segments_an_image_without_jax(tmp_path):
    model, variables = _net("fcn8s", classes=4)
    weights = save_bundle(tmp_path / "w", variables["params"], {
        "arch": "fcn8s", "num_classes": 4, "width": 1 / 32, "preprocessing": CAFFE_ILSVRC,
        "class_names": ["sky", "sea", "sand", "boat"]})  # fmt: skip
    out = tmp_path / "net.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out),
                 "--height", "48", "--width", "56"]) == 0  # fmt: skip
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["input"]["shape"] == ["B", "48", "56", "3"] and meta["input_layout"] == "NHWC"
    rgb = np.random.default_rng(4).integers(0, 256, size=(48, 56, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    script = (f"import runpy, sys; sys.argv = ['x', {str(out)!r}, {str(tmp_path / 'a.png')!r}, "
              f"{str(tmp_path / 'l.png')!r}]; runpy.run_path({str(EXAMPLE)!r}, run_name="
              "'__main__'); assert not {'jax', 'fcn_jax'} & set(sys.modules), 'jax'")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    x = ((rgb.astype(np.float32) - np.float32(CAFFE_ILSVRC.mean)) / 1.0)[..., ::-1]
    want = np.asarray(model.apply(variables, np.ascontiguousarray(x[None])))[0].argmax(-1)
    assert (np.asarray(Image.open(tmp_path / "l.png")) == want).mean() > 0.999
    assert any(name in done.stdout for name in ("sky", "sea", "sand", "boat"))


def test_the_resize_matrix_is_half_pixel_linear_with_clamped_edges():
    from fcn_jax.export.inference import interpolation

    hand = [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]  # samples at -0.25, 0.25, 0.75, 1.25
    np.testing.assert_allclose(interpolation(2, 4), hand)
