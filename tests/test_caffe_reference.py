"""The Caffe reference pieces run: every released net's definitions build, write (both
encodings where Caffe has them) and parse back with protobuf's own parser; the torch forward
gives each net's score blobs at the input's size; its layers follow Caffe's rules (ceil
pooling, padded AVE divisor, LRN, crop offsets, deconvolution sizes) where torch has them."""

import numpy as np
import pytest
from caffe_nets import SIZE, inputs_of, insert_splits, names, output_blobs, perturb, released_net
from caffe_wire import MESSAGES, PHASE, V1_ENUM, caffemodel_from_defs

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from caffe_forward import caffe_forward, crop, lrn, pooling  # noqa: E402

CLASSES = {"voc": 21, "nyud": 40, "pascalcontext": 60}
CROPS = {  # crop layer -> offset, from the prototxts
    "voc-fcn32s": {"score": 19}, "voc-fcn16s": {"score_pool4c": 5, "score": 27},
    "voc-fcn8s": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    "voc-fcn-alexnet": {"score": 18}, "nyud-fcn32s-color-hha": {"score": 19},
    "siftflow-fcn16s": {"score_pool4_semc": 5, "score_sem": 27, "score_pool4_geoc": 5,
                        "score_geo": 27},
}  # fmt: skip


def size_of(name):
    if name in SIZE:
        return SIZE[name], SIZE[name]
    return (45, 31) if name.startswith(("siftflow", "pascalcontext")) else (37, 53)


@pytest.mark.parametrize("name", names())
def test_a_net_builds_writes_and_runs(name):
    defs = released_net(name)
    assert caffemodel_from_defs(defs)
    if name in ("vgg16-ilsvrc", "caffenet"):
        assert caffemodel_from_defs(defs, v1=True)
    h, w = size_of(name)
    out = caffe_forward(defs, inputs_of(name, h, w))
    for blob in output_blobs(name):
        if name in SIZE:
            assert out[blob].shape == (1, 1000)
        else:
            classes = {"score_geo": 3, "score_sem": 33}.get(blob) or CLASSES[name.split("-")[0]]
            assert out[blob].shape == (1, classes, h, w)
        assert np.isfinite(out[blob]).all() and 0.1 < out[blob].std() < 10


def test_facts_typed_from_the_prototxts():
    for name, crops in CROPS.items():
        found = {d.name: d.params["crop_param"]["offset"] for d in released_net(name)
                 if d.type == "Crop"}  # fmt: skip
        assert found == crops, name
    fused = {d.name: d for d in released_net("nyud-fcn32s-color-hha")}["score_fused"]
    assert fused.bottom == ("score_frcolor", "score_frhha")
    assert fused.params["eltwise_param"] == {"operation": "SUM", "coeff": [0.5, 0.5]}
    first = {d.name: d for d in released_net("nyud-fcn32s-color-d")}["conv1_1_bgrd"]
    assert first.bottom == ("data_data_0_split_0",) and first.blobs[0].shape[1] == 4
    scales = {d.name: d.blobs[0] for d in released_net("voc-fcn8s-atonce") if d.type == "Scale"}
    assert {k: (v.shape, float(v[0])) for k, v in scales.items()} == {
        "scale_pool4": ((32,), np.float32(0.01)),
        "scale_pool3": ((16,), np.float32(1e-4)),
    }
    groups = {d.name: d.params["convolution_param"].get("group") for d in released_net("caffenet")
              if d.type == "Convolution"}  # fmt: skip
    assert groups == {"conv1": None, "conv2": 2, "conv3": None, "conv4": 2, "conv5": 2}


def test_splits_are_named_as_caffe_names_them():
    defs = released_net("voc-fcn8s")
    splits = {d.name: d.top for d in defs if d.type == "Split"}
    assert splits["pool4_pool4_0_split"] == ("pool4_pool4_0_split_0", "pool4_pool4_0_split_1")
    assert set(splits) == {
        "data_data_0_split",
        "pool3_pool3_0_split",
        "pool4_pool4_0_split",
        "upscore2_upscore2_0_split",
        "upscore_pool4_upscore_pool4_0_split",
    }
    by_name = {d.name: d for d in defs}
    assert by_name["score"].bottom == ("upscore8", "data_data_0_split_1")
    assert by_name["loss"].params["loss_weight"] == [1.0]  # LossLayer::LayerSetUp's default
    assert by_name["fc6"].params["phase"] == "TRAIN"
    order = [d.name for d in defs]
    assert order.index("pool4_pool4_0_split") == order.index("pool4") + 1
    sift = [d.name for d in released_net("siftflow-fcn32s") if d.type == "Split"]
    assert sift == ["data_data_0_split", "fc7_drop7_0_split"]  # drop7 wrote fc7 last
    assert len(insert_splits(released_net("voc-fcn32s", phase=None))) == 43


def test_perturb_changes_one_thing():
    defs = released_net("nyud-fcn32s-color-hha", phase=None)
    moved = perturb(defs, "score", "crop_param.offset", 20)
    assert [d.name for d, e in zip(moved, defs, strict=True) if d is not e] == ["score"]
    assert {d.name: d for d in defs}["score"].params["crop_param"]["offset"] == 19
    one = perturb(defs, "score_fused", "eltwise_param.coeff", [1, 1])
    assert {d.name: d for d in one}["score_fused"].params["eltwise_param"]["coeff"] == [1, 1]
    scaled = perturb(released_net("voc-fcn8s-atonce"), "scale_pool4", "blobs.0", 0.02)
    blob = {d.name: d for d in scaled}["scale_pool4"].blobs[0]
    assert blob.shape == (32,) and (blob == np.float32(0.02)).all()


def test_pooling_lrn_and_deconvolution_follow_caffe():
    x = torch.randn(2, 5, 11, 14, dtype=torch.float64)
    for k, s, p in [(2, 2, 0), (3, 2, 0), (3, 2, 1), (3, 1, 1), (5, 3, 0), (3, 3, 1)]:
        f = {"kernel_size": k, "stride": s, "pad": p}
        ref = F.max_pool2d(x, k, s, p, ceil_mode=True)  # torch's ceil rule is Caffe's
        assert torch.equal(pooling(x, {"pool": "MAX", **f}), ref)
        ave = F.avg_pool2d(x, k, s, p, ceil_mode=True, count_include_pad=True)
        assert torch.allclose(pooling(x, {"pool": "AVE", **f}), ave, rtol=1e-12, atol=1e-12)
    assert pooling(x, {"kernel_size": 2, "stride": 2}).shape[2:] == (6, 7)  # ceil, not floor
    norm = F.local_response_norm(x, 5, alpha=1e-4 * 1e3, beta=0.75, k=1.0)
    assert torch.allclose(lrn(x, {"local_size": 5, "alpha": 0.1, "beta": 0.75}), norm)
    up = {"num_output": 3, "bias_term": False, "kernel_size": 4, "stride": 2}
    net = [released_net("voc-fcn32s", phase=None)[0]._replace(
        name="up", type="Deconvolution", bottom=("data",), top=("up",),
        params={"convolution_param": up}, blobs=[np.ones((5, 3, 4, 4))])]  # fmt: skip
    assert caffe_forward(net, {"data": x.numpy()})["up"].shape == (2, 3, 24, 30)  # 2*(n-1)+4


def test_crop_offsets_broadcast_and_bounds():
    x, ref = torch.arange(2 * 3 * 9 * 8.0).reshape(2, 3, 9, 8), torch.zeros(1, 1, 4, 5)
    assert torch.equal(crop(x, ref, {"axis": 2, "offset": 3}), x[:, :, 3:7, 3:8])
    assert torch.equal(crop(x, ref, {"axis": 2, "offset": [1, 2]}), x[:, :, 1:5, 2:7])
    assert torch.equal(crop(x, ref, {"axis": 1, "offset": [0, 1, 2]}), x[:, :1, 1:5, 2:7])
    for bad in ({"axis": 2, "offset": 4}, {"axis": 2, "offset": [1, 2, 3]}):
        with pytest.raises(ValueError):
            crop(x, ref, bad)


def _net_class(v1):
    """NetParameter / LayerParameter / V1LayerParameter / BlobProto from caffe.proto's field
    numbers (typed again here), the param messages from caffe_wire's schemas; every field
    repeated, enums as ints: protobuf's own parser reads back what caffe_wire wrote. Returns
    the NetParameter class and the layer's schema."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="caffe_subset.proto", package="t")
    T = descriptor_pb2.FieldDescriptorProto
    kinds = {"str": T.TYPE_STRING, "uint": T.TYPE_UINT64, "int": T.TYPE_INT64, "bool": T.TYPE_BOOL,
             "float": T.TYPE_FLOAT, "double": T.TYPE_DOUBLE, "packed": T.TYPE_INT64}  # fmt: skip

    def add(name, schema):
        msg = fdp.message_type.add(name=name)
        for field, (number, kind) in schema.items():
            f = msg.field.add(name=field, number=number, label=T.LABEL_REPEATED)
            if isinstance(kind, dict) and not all(isinstance(v, int) for v in kind.values()):
                f.type, f.type_name = T.TYPE_MESSAGE, "." + add(f"{name}_{field}", kind)
            elif isinstance(kind, dict):
                f.type = T.TYPE_INT64
            elif isinstance(kind, str) and kind in kinds:
                f.type = kinds[kind]
            else:
                f.type, f.type_name = T.TYPE_MESSAGE, f".t.{kind}"
        return f"t.{name}"

    add("BlobShape", {"dim": (1, "int")})
    add("BlobProto", {"num": (1, "int"), "channels": (2, "int"), "height": (3, "int"),
                      "width": (4, "int"), "data": (5, "float"), "shape": (7, "BlobShape"),
                      "double_data": (8, "double")})  # fmt: skip
    numbers = {
        k: (v1_number if v1 else number, s) for k, (number, v1_number, s) in MESSAGES.items()
    }
    params = {k: v for k, v in numbers.items() if v[0] is not None}
    rule = {"phase": (1, PHASE)}
    if v1:
        layer = {"bottom": (2, "str"), "top": (3, "str"), "name": (4, "str"), "type": (5, "int"),
                 "blobs": (6, "BlobProto"), "blobs_lr": (7, "float"), "weight_decay": (8, "float"),
                 "include": (32, rule), "loss_weight": (35, "float")}  # fmt: skip
    else:
        layer = {"name": (1, "str"), "type": (2, "str"), "bottom": (3, "str"), "top": (4, "str"),
                 "loss_weight": (5, "float"), "blobs": (7, "BlobProto"), "include": (8, rule),
                 "phase": (10, PHASE), "param": (6, {"lr_mult": (3, "float"),
                 "decay_mult": (4, "float")})}  # fmt: skip
    layer = {**layer, **params}
    add("Layer", layer)
    add("Net", {"name": (1, "str"), ("layers" if v1 else "layer"): (2 if v1 else 100, "Layer")})
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Net")), layer


def _same(schema, written, parsed):
    for field, value in written.items():
        kind = schema[field][1]
        values = value if isinstance(value, list) else [value]
        got = list(getattr(parsed, field))
        if isinstance(kind, dict) and not all(isinstance(v, int) for v in kind.values()):
            for v, g in zip(values, got, strict=True):
                _same(kind, v, g)
        else:
            values = [
                kind[v] if isinstance(kind, dict) and isinstance(v, str) else v for v in values
            ]
            values = [np.float32(v) for v in values] if kind == "float" else values
            assert got == values, (field, got, values)


PARSED = [("voc-fcn8s-atonce", False), ("nyud-fcn32s-color-hha", False),
          ("bvlc-googlenet", False), ("caffenet", True)]  # fmt: skip


@pytest.mark.parametrize(("name", "v1"), PARSED)
def test_the_bytes_parse_back(name, v1):
    pytest.importorskip("google.protobuf")
    defs = released_net(name)
    net_class, schema = _net_class(v1)
    net = net_class.FromString(caffemodel_from_defs(defs, v1=v1, name=name))
    layers = net.layers if v1 else net.layer
    assert net.name == [name] and len(layers) == len(defs)
    for d, parsed in zip(defs, layers, strict=True):
        kind = V1_ENUM[d.type] if v1 else d.type
        _same(
            schema, {"name": d.name, "type": kind, "bottom": [*d.bottom], "top": [*d.top]}, parsed
        )
        _same(schema, {k: v for k, v in d.params.items() if k in schema}, parsed)  # V1: no phase
        if v1:  # the param specs as blobs_lr / weight_decay
            specs = d.params.get("param", [])
            _same(schema, {"blobs_lr": [p["lr_mult"] for p in specs]}, parsed)
            _same(schema, {"weight_decay": [p["decay_mult"] for p in specs]}, parsed)
        for b, pb in zip(d.blobs, parsed.blobs, strict=True):
            legacy = (pb.num[0], pb.channels[0], pb.height[0], pb.width[0]) if v1 else None
            assert legacy == (1,) * (4 - b.ndim) + b.shape if v1 else pb.shape[0].dim == [*b.shape]
            np.testing.assert_array_equal(np.asarray(pb.data, np.float32), b.ravel())
