"""Reading .caffemodel files (both encodings) built here byte by byte with the protobuf wire
format: every blob lands in its layer, in our layout, and the nets give the torch reference's
logits; bad files are named, never half-loaded."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from caffe_wire import caffemodel, from_state

from fcn_jax.models import build
from fcn_jax.weights import CaffeError, from_caffemodel, read_caffemodel

torch = pytest.importorskip("torch")
from torch_fcn import reference_net  # noqa: E402

# Caffe's Scale layers (axis 1, num_axes 1) store one factor per channel: pool4 has 512 / 16
# channels at width 1/16, pool3 256 / 16.
SCALES = [
    ("scale_pool4", "Scale", [np.full(32, 0.01)]),
    ("scale_pool3", "Scale", [np.full(16, 1e-4)]),
]


def state_of(net) -> dict:
    return {k: v.numpy() for k, v in net.state_dict().items()}


def torch_logits(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)


def write(tmp_path, data: bytes, name="net.caffemodel"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


CASES = [
    ("fcn8s", {}, ()),  # new encoding, blobs with shape, packed floats
    ("fcn8s-atonce", {}, ()),
    ("fcn32s", {"v1": True, "legacy": True}, ()),  # V1 layers, legacy num/channels/h/w
    ("fcn-alexnet", {"v1": True, "legacy": True}, ("fc6", "fc7")),  # fc6/fc7 as InnerProduct
    ("fcn16s", {"packed": False, "double": True}, ("fc6",)),  # unpacked double_data
]


@pytest.mark.parametrize(("arch", "encoding", "fc"), CASES)
def test_a_caffemodel_gives_the_torch_reference_logits(tmp_path, arch, encoding, fc):
    net = reference_net(arch, 5, 1 / 16)
    layers = from_state(state_of(net), fc=fc) + (SCALES if arch == "fcn8s-atonce" else [])
    path = write(tmp_path, caffemodel(layers, **encoding))
    params = from_caffemodel(path, arch)
    apply = jax.jit(build(arch, 5, width=1 / 16).apply)
    for shape in [(1, 37, 53, 3), (1, 100, 100, 3)]:
        x = np.random.default_rng(shape[1]).standard_normal(shape).astype(np.float32)
        ours = np.asarray(apply({"params": params}, jnp.asarray(x)))
        ref = torch_logits(net, x)
        assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()


def test_blobs_land_in_our_layout(tmp_path):
    conv = np.arange(4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3)  # (out, in, kh, kw)
    deconv = np.arange(2 * 2 * 4 * 4, dtype=np.float32).reshape(2, 2, 4, 4)  # (in, out, kh, kw)
    layers = [("c", "Convolution", [conv, np.arange(4.0)]), ("upscore2", "Deconvolution", [deconv])]
    found = {layer.name: layer for layer in read_caffemodel(write(tmp_path, caffemodel(layers)))}
    assert found["c"].type == "Convolution" and found["upscore2"].type == "Deconvolution"
    np.testing.assert_array_equal(found["c"].blobs[0], conv)
    np.testing.assert_array_equal(found["c"].blobs[1], np.arange(4.0))
    assert list(found) == ["data", "c", "upscore2"] and found["data"].blobs == ()

    net = reference_net("fcn16s", 5, 1 / 16)
    state = state_of(net)
    params = from_caffemodel(
        write(tmp_path, caffemodel(from_state(state)), "b.caffemodel"), "fcn16s"
    )
    w, up = state["conv2_1.weight"], state["upscore2.weight"]
    # kernel[a, b, i, o] is Caffe's weight[o, i, a, b]; a deconvolution's is weight[i, o, a, b]:
    # no flip (input unit u writes kernel[a] to output s*u + a, in Caffe and here).
    assert params["conv2_1"]["kernel"][2, 0, 1, 3] == w[3, 1, 2, 0]
    assert params["upscore2"]["kernel"][3, 0, 1, 4] == up[1, 4, 3, 0]


def test_bad_files_are_named(tmp_path):
    net = reference_net("fcn32s", 5, 1 / 16)
    layers = from_state(state_of(net))
    good = caffemodel(layers)
    for data, pattern in [
        (good[: len(good) // 2], r"half\.caffemodel .*(truncated|claims)"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, r"foreign\.caffemodel"),
        (b"", r"empty\.caffemodel holds no layer with weights"),
    ]:
        name = pattern.split("\\")[0] + ".caffemodel"
        with pytest.raises(CaffeError, match=pattern):
            from_caffemodel(write(tmp_path, data, name), "fcn32s")

    missing = [entry for entry in layers if entry[0] != "fc7"]
    with pytest.raises(KeyError, match=r"no layer 'fc7'"):
        from_caffemodel(write(tmp_path, caffemodel(missing), "m.caffemodel"), "fcn32s")
    wrong = [
        (n, k, [b[:, :-1] for b in bl[:1]] + bl[1:] if n == "fc7" else bl) for n, k, bl in layers
    ]
    with pytest.raises(ValueError, match=r"'fc7' weight of shape \(256, 255, 1, 1\)"):
        from_caffemodel(write(tmp_path, caffemodel(wrong), "w.caffemodel"), "fcn32s")
    with pytest.raises(KeyError, match=r"does not use: score_pool4"):
        extra = [*layers, ("score_pool4", "Convolution", [np.zeros((5, 32, 1, 1)), np.zeros(5)])]
        from_caffemodel(write(tmp_path, caffemodel(extra), "x.caffemodel"), "fcn32s")


def test_a_blob_whose_data_does_not_fill_its_shape_is_named(tmp_path):
    import caffe_wire as w

    body = w.string(w.LP_NAME, "conv1_1") + w.string(w.LP_TYPE, "Convolution")
    bad_blob = w.message(w.BP_SHAPE, w.message(1, w.varint(4) + w.varint(3))) + w.message(
        w.BP_DATA, np.zeros(11, np.float32).tobytes()
    )
    data = w.message(w.NET_LAYER, body + w.message(w.LP_BLOBS, bad_blob))
    with pytest.raises(
        CaffeError, match=r"blob 0 of layer 'conv1_1' has 11 values but shape \(4, 3\)"
    ):
        read_caffemodel(write(tmp_path, data))


def test_an_at_once_scale_that_differs_is_an_error(tmp_path):
    net = reference_net("fcn8s-atonce", 5, 1 / 16)
    scale = np.full(16, 1e-4)
    scale[5] = 1e-3
    layers = [*from_state(state_of(net)), SCALES[0], ("scale_pool3", "Scale", [scale])]
    with pytest.raises(ValueError, match=r"'scale_pool3' scales channel 5 by 0\.001 \(1 of 16"):
        from_caffemodel(write(tmp_path, caffemodel(layers)), "fcn8s-atonce")
    layers[-1] = ("scale_pool3", "Scale", [np.full(8, 1e-4)])
    with pytest.raises(ValueError, match=r"'scale_pool3' holds 8 scale values for 16 channels"):
        from_caffemodel(write(tmp_path, caffemodel(layers), "b.caffemodel"), "fcn8s-atonce")


@pytest.mark.slow
def test_sift_flow_two_heads_are_found_by_their_suffixes(tmp_path):
    heads = (("sem", 33), ("geo", 3))
    module = build("fcn16s", 1, width=1 / 16, heads=heads)
    x = np.zeros((1, 64, 64, 3), np.float32)
    params = jax.tree.map(np.asarray, module.init(jax.random.key(0), x)["params"])
    rng = np.random.default_rng(0)
    layers = []
    for (
        name,
        leaves,
    ) in params.items():  # Caffe layouts: conv (out, in, kh, kw), deconv (in, out, ..)
        kernel = rng.standard_normal(leaves["kernel"].shape).astype(np.float32)
        params[name] = {**leaves, "kernel": kernel}
        deconv = name.startswith("upscore")
        blob = kernel.transpose((2, 3, 0, 1) if deconv else (3, 2, 0, 1))
        bias = [leaves["bias"] + 1] if "bias" in leaves else []
        layers.append((name, "Deconvolution" if deconv else "Convolution", [blob, *bias]))
    got = from_caffemodel(write(tmp_path, caffemodel(layers)), "fcn16s")
    assert {"score_fr_sem", "score_fr_geo", "upscore16_geo", "score_pool4_sem"} <= set(got)
    assert got["score_fr_sem"]["kernel"].shape[-1] == 33 and got["score_fr_geo"]["bias"].shape == (
        3,
    )
    for name in params:
        np.testing.assert_array_equal(got[name]["kernel"], params[name]["kernel"])


@pytest.mark.slow
@pytest.mark.parametrize("stride", [32, 16, 8])
def test_fcn_googlenet_from_a_caffemodel_gives_the_torch_logits(tmp_path, stride):
    from torch_googlenet import TorchGoogLeNetFCN, caffe_names

    net = TorchGoogLeNetFCN(stride, 5, 1 / 16)
    gen = torch.Generator().manual_seed(stride)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / p[0].numel()) ** 0.5)
    path = write(tmp_path, caffemodel(from_state(caffe_names(net.eval()))))
    arch = f"fcn{stride}s-googlenet"
    params = from_caffemodel(path, arch)
    apply = jax.jit(build(arch, 5, width=1 / 16).apply)
    for shape in [(1, 67, 90, 3), (1, 131, 131, 3)]:
        x = np.random.default_rng(shape[1]).standard_normal(shape).astype(np.float32)
        ours = np.asarray(apply({"params": params}, jnp.asarray(x)))
        ref = torch_logits(net, x)
        assert ours.shape == ref.shape == (*shape[:3], 5)
        assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.slow
def test_bvlc_googlenet_becomes_fcn32s_without_its_classifiers(tmp_path):
    from torch_googlenet import TorchGoogLeNetFCN, caffe_names

    from fcn_jax.weights import import_layers
    from fcn_jax.weights.importers import read_layers

    state = caffe_names(TorchGoogLeNetFCN(32, 5, 1 / 16))
    layers = [(n, k, b) for n, k, b in from_state(state) if not n.startswith(("score", "up"))]
    classifiers = [("loss1/conv", (8, 32, 1, 1)), ("loss1/fc", (64, 128)),
                   ("loss1/classifier", (10, 64)), ("loss3/classifier", (10, 64))]  # fmt: skip
    for name, shape in classifiers:
        layers.append((name, "Convolution", [np.ones(shape, np.float32), np.ones(shape[0])]))
    found = read_layers("caffe", write(tmp_path, caffemodel(layers, v1=True, legacy=True)))
    done = import_layers(found, "fcn32s-googlenet", "bvlc", num_classes=21)
    assert done.dropped == ["loss1_conv", "loss1_fc", "loss1_classifier", "loss3_classifier"]
    assert done.fresh == ["score_fr", "upscore"]
    w = state["inception_4c/5x5_reduce.weight"]
    assert done.params["inception_4c_5x5_reduce"]["kernel"][0, 0, 5, 1] == w[1, 5, 0, 0]


def test_malformed_blob_fields_are_named(tmp_path):
    import caffe_wire as w

    def one_layer(blob: bytes) -> bytes:
        body = w.string(w.LP_NAME, "conv1_1") + w.string(w.LP_TYPE, "Convolution")
        return w.message(w.NET_LAYER, body + w.message(w.LP_BLOBS, blob))

    ragged = w.message(w.BP_SHAPE, w.message(1, w.varint(2))) + w.message(w.BP_DATA, b"\0" * 10)
    legacy_as_bytes = w.message(w.BP_NUM, b"\x01") + w.message(w.BP_DATA, b"\0" * 4)
    huge = w.message(w.BP_SHAPE, w.message(1, w.varint(2**32) + w.varint(2**32)))
    for name, blob in [("ragged", ragged), ("legacy", legacy_as_bytes), ("huge", huge)]:
        with pytest.raises(CaffeError, match=rf"{name}\.caffemodel"):
            read_caffemodel(write(tmp_path, one_layer(blob), f"{name}.caffemodel"))
