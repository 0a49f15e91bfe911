"""The authors' released models: a ``.caffemodel`` as Caffe's solver saves it (the TRAIN net's
layer definitions, Split layers and all, typed from the public prototxts in ``caffe_nets``,
random weights and random deconvolution kernels) loads with ``convert`` naming no arch, and
gives the score maps an independent forward pass written from Caffe's layer semantics
(``caffe_forward``, torch float64) computes, at odd input sizes. A definition that disagrees
with our geometry is refused by name."""

import jax
import numpy as np
import pytest
from caffe_nets import SIZE, inputs_of, output_blobs, perturb, released_net
from caffe_wire import caffemodel_from_defs

from fcn_jax.models import build_from
from fcn_jax.weights import convert

torch = pytest.importorskip("torch")
from caffe_forward import caffe_forward  # noqa: E402

ARCH = {  # the net each file must be recognised as, with its inputs
    "voc-fcn32s": ("fcn32s", "color"), "voc-fcn16s": ("fcn16s", "color"),
    "voc-fcn8s": ("fcn8s", "color"), "voc-fcn8s-deploy": ("fcn8s", "color"),
    "voc-fcn8s-atonce": ("fcn8s-atonce", "color"), "voc-fcn-alexnet": ("fcn-alexnet", "color"),
    "nyud-fcn32s-color": ("fcn32s", "color"), "nyud-fcn32s-hha": ("fcn32s", "hha"),
    "nyud-fcn32s-color-d": ("fcn32s", "color+depth"),
    "nyud-fcn32s-color-hha": ("fcn32s", "color|hha"),
    "siftflow-fcn32s": ("fcn32s", "color"), "siftflow-fcn16s": ("fcn16s", "color"),
    "siftflow-fcn8s": ("fcn8s", "color"),
    "pascalcontext-fcn32s": ("fcn32s", "color"), "pascalcontext-fcn16s": ("fcn16s", "color"),
    "pascalcontext-fcn8s": ("fcn8s", "color"),
    "vgg16-ilsvrc": ("vgg16", "color"), "caffenet": ("alexnet", "color"),
    "bvlc-googlenet": ("googlenet", "color"),
}  # fmt: skip
SLOW = {"bvlc-googlenet", "nyud-fcn32s-color-hha", "siftflow-fcn8s", "pascalcontext-fcn16s"}


def write(tmp_path, defs, name="net.caffemodel", **options):
    path = tmp_path / name
    path.write_bytes(caffemodel_from_defs(defs, **options))
    return path


def our_input(inputs: dict) -> np.ndarray:
    """The NHWC array our net takes: the data blobs side by side (colour and depth for early
    fusion, colour then HHA for late fusion)."""
    return np.concatenate([x.transpose(0, 2, 3, 1) for x in inputs.values()], axis=-1)


def sizes(name):
    if name in SIZE:  # a classifier at its own input size: one cell of class scores
        return [(SIZE[name], SIZE[name])]
    return [(37, 53), (64, 45)]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in ARCH]
)
def test_a_released_net_computes_what_its_prototxt_computes(tmp_path, name):
    defs = released_net(name)
    done = convert("caffe", write(tmp_path, defs))
    arch, inputs = ARCH[name]
    assert (done.meta["arch"], done.meta["inputs"]) == (arch, inputs)
    assert done.meta["source"]["definitions_checked"]
    model = build_from(done.meta)
    apply = jax.jit(model.apply)
    for height, width in sizes(name):
        data = inputs_of(name, height, width, seed=height)
        reference = caffe_forward(defs, data)
        ours = apply({"params": done.params}, our_input(data))
        if not isinstance(ours, dict):  # one output: 'score', or a classifier's last layer
            ours = {output_blobs(name)[0]: ours}
        assert len(ours) == len(output_blobs(name))
        for blob in output_blobs(name):
            head = blob if blob in ours else blob.removeprefix("score_")  # SIFT Flow's 'sem'
            ref, logits = reference[blob], ours[head]
            ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref[:, None, None, :]
            logits = np.asarray(logits)
            assert logits.shape == ref.shape, (blob, logits.shape, ref.shape)
            assert np.abs(logits - ref).max() <= 1e-5 * np.abs(ref).max(), blob


def test_the_classifiers_load_from_the_old_encoding_too(tmp_path):
    for name in ("vgg16-ilsvrc", "caffenet"):
        defs = released_net(name)
        new = convert("caffe", write(tmp_path, defs, f"{name}.caffemodel"))
        old = convert("caffe", write(tmp_path, defs, f"{name}-v1.caffemodel", v1=True))
        assert old.meta["arch"] == new.meta["arch"] and old.meta["source"]["definitions_checked"]
        jax.tree.map(np.testing.assert_array_equal, old.params, new.params)


def test_late_fusion_is_the_references_average_at_score_fr(tmp_path):
    done = convert("caffe", write(tmp_path, released_net("nyud-fcn32s-color-hha")))
    assert set(done.params) == {"color", "hha", "upscore"}  # one upsampling for both streams
    assert done.meta["streams"] == ["color", "hha"]
    assert done.meta["preprocessing"].mean == (92.318, 97.203, 116.190)  # nyud_layers' BGR mean


REFUSED = [  # (net, layer, field, value, what the message names)
    ("voc-fcn32s", "score", "crop_param.offset", [20], r"'score' has crop offset \(20, 20\); "
     r"our fcn32s derives \(19, 19\)"),
    ("voc-fcn8s", "score_pool4c", "crop_param.offset", [4], r"'score_pool4c' has crop offset"),
    ("nyud-fcn32s-color-hha", "score_fused", "eltwise_param.coeff", [1.0, 1.0],
     r"'score_fused' has coeff \(1\.0, 1\.0\); our fcn32s derives \(0\.5, 0\.5\)"),
    ("voc-fcn8s-atonce", "scale_pool4", "blobs.0", 0.001,
     r"'scale_pool4' scales channel 0 by 0\.001 \(32 of 32 values differ\); the net scales by "
     r"0\.01"),
    ("voc-fcn16s", "pool3", "pooling_param.kernel_size", [3], r"'pool3' has kernel_size \(3, 3\)"),
    ("voc-fcn-alexnet", "conv2", "convolution_param.group", 1, r"'conv2' has group 1; our "
     r"fcn-alexnet derives 2"),
    ("voc-fcn32s", "conv1_1", "convolution_param.pad", [99], r"'conv1_1' has pad \(99, 99\)"),
    ("voc-fcn16s", "fuse_pool4", "eltwise_param.operation", "PROD", r"'fuse_pool4' has "
     r"operation PROD"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "layer", "field", "value", "message"), REFUSED)
def test_a_definition_that_disagrees_is_refused_by_name(tmp_path, name, layer, field, value,
                                                        message):  # fmt: skip
    defs = perturb(released_net(name), layer, field, value)
    with pytest.raises(ValueError, match=message):
        convert("caffe", write(tmp_path, defs))


def test_a_layer_our_net_lacks_is_refused(tmp_path):
    defs = released_net("voc-fcn32s")
    defs = perturb(defs, "drop7", "type", "Sigmoid")  # a layer that would compute something
    with pytest.raises(ValueError, match=r"'drop7' has type Sigmoid; our fcn32s derives Dropout"):
        convert("caffe", write(tmp_path, defs))


def test_weights_only_still_load_with_an_arch(tmp_path):
    defs = [d._replace(params={}, bottom=(), top=()) for d in released_net("voc-fcn16s")]
    done = convert("caffe", write(tmp_path, defs), "fcn16s")
    assert not done.meta["source"]["definitions_checked"] and done.meta["arch"] == "fcn16s"
    full = convert("caffe", write(tmp_path, released_net("voc-fcn16s"), "full.caffemodel"))
    jax.tree.map(np.testing.assert_array_equal, done.params, full.params)


def test_convert_and_predict_from_the_command_line(tmp_path, capsys):
    from PIL import Image

    from fcn_jax import cli
    from fcn_jax.data.preprocessing import CAFFE_ILSVRC

    defs = released_net("voc-fcn8s-atonce")
    source, out = write(tmp_path, defs), tmp_path / "weights"
    assert cli.main(["convert", "--from", "caffe", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(fcn8s-atonce, 21 classes, width 0.0625)" in printed
    assert "every layer definition in the file matches our fcn8s-atonce" in printed
    rgb = np.random.default_rng(1).integers(0, 256, (41, 58, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    args = ["predict", "--weights", str(out), str(tmp_path / "photo.png"), "--out", str(tmp_path)]
    assert cli.main([*args[:-1], str(tmp_path / "pred")]) == 0
    with Image.open(tmp_path / "pred" / "photo.png") as label:
        label = np.asarray(label)
    x = (rgb.astype(np.float32) - np.float32(CAFFE_ILSVRC.mean))[..., ::-1]  # BGR minus mean
    reference = caffe_forward(defs, {"data": x.transpose(2, 0, 1)[None].copy()})["score"]
    expected = reference[0].argmax(0)
    assert (label == expected).mean() > 0.999  # float32 against float64: ties may differ


# nyud_layers.py's means, in the BGR order its images are in when subtracted
NYUD_BGR, NYUD_HHA, NYUD_LOG_DEPTH = (116.190, 97.203, 92.318), (132.431, 94.076, 118.477), 7.844


@pytest.mark.parametrize(("name", "flag"), [("nyud-fcn32s-color-d", "--depth"),
                                            ("nyud-fcn32s-color-hha", "--hha")])  # fmt: skip
def test_predict_takes_the_second_input_of_a_fusion_net(tmp_path, name, flag):
    from PIL import Image

    from fcn_jax import cli

    defs = released_net(name)
    source, out = write(tmp_path, defs), tmp_path / "weights"
    assert cli.main(["convert", "--from", "caffe", str(source), "--out", str(out)]) == 0
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (39, 47, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    bgr = rgb[..., ::-1].astype(np.float64) - NYUD_BGR
    if flag == "--depth":
        second = rng.integers(500, 9000, (39, 47), dtype=np.uint16)  # millimetres, 16-bit PNG
        Image.fromarray(second).save(tmp_path / "second.png")
        data = {
            "color": bgr,
            "depth": (np.log(second.astype(np.float64)) - NYUD_LOG_DEPTH)[..., None],
        }
    else:
        second = rng.integers(0, 256, (39, 47, 3), dtype=np.uint8)
        Image.fromarray(second).save(tmp_path / "second.png")
        data = {"color": bgr, "hha": second[..., ::-1].astype(np.float64) - NYUD_HHA}
    data = {k: v.transpose(2, 0, 1)[None].astype(np.float32) for k, v in data.items()}
    expected = caffe_forward(defs, data)["score"][0].argmax(0)
    args = [
        "predict",
        "--weights",
        str(out),
        str(tmp_path / "rgb.png"),
        "--out",
        str(tmp_path / "p"),
    ]
    with pytest.raises(SystemExit, match=rf"give one {flag} image per colour image \(1 image"):
        cli.main(args)
    assert cli.main([*args, flag, str(tmp_path / "second.png")]) == 0
    with Image.open(tmp_path / "p" / "rgb.png") as label:
        assert (np.asarray(label) == expected).mean() > 0.999
