"""A tiny protobuf *writer* for the tests: builds .caffemodel bytes field by field, with the
field numbers of Caffe's published caffe.proto, independently of fcn_jax's reader."""

import struct

import numpy as np

# caffe.proto field numbers
NET_LAYERS_V1, NET_LAYER = 2, 100  # NetParameter
LP_NAME, LP_TYPE, LP_BLOBS = 1, 2, 7  # LayerParameter
V1_NAME, V1_TYPE, V1_BLOBS = 4, 5, 6  # V1LayerParameter
BP_NUM, BP_CHANNELS, BP_HEIGHT, BP_WIDTH, BP_DATA, BP_SHAPE, BP_DOUBLE = 1, 2, 3, 4, 5, 7, 8
V1_ENUM = {"Convolution": 4, "Deconvolution": 39, "InnerProduct": 14, "ReLU": 18,
           "Pooling": 17, "LRN": 15, "Dropout": 6, "Data": 5}  # fmt: skip


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def message(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


def number(field: int, n: int) -> bytes:
    return key(field, 0) + varint(n)


def blob(array, legacy=False, packed=True, double=False) -> bytes:
    """A BlobProto: with ``shape`` (dims packed), or legacy num/channels/height/width (padded
    to 4-d with leading 1s, as Caffe wrote them); floats packed or one by one."""
    array = np.asarray(array)
    if legacy:
        dims = (1,) * (4 - array.ndim) + array.shape
        legacy_fields = (BP_NUM, BP_CHANNELS, BP_HEIGHT, BP_WIDTH)
        head = b"".join(number(f, d) for f, d in zip(legacy_fields, dims, strict=True))
    else:
        head = message(BP_SHAPE, message(1, b"".join(varint(d) for d in array.shape)))
    field, fmt = (BP_DOUBLE, "<d") if double else (BP_DATA, "<f")
    values = array.ravel().astype(np.float64 if double else np.float32)
    if packed:
        data = message(field, values.astype(fmt).tobytes())
    else:
        wire = 1 if double else 5
        data = b"".join(key(field, wire) + struct.pack(fmt, v) for v in values)
    return head + data


def string(field: int, text: str) -> bytes:
    return message(field, text.encode())


def layer(name: str, kind: str, blobs=(), v1=False, **blob_options) -> bytes:
    """A layer of the new (LayerParameter) or old (V1LayerParameter) encoding."""
    if v1:
        body = string(V1_NAME, name) + number(V1_TYPE, V1_ENUM[kind])
        body += b"".join(message(V1_BLOBS, blob(b, **blob_options)) for b in blobs)
        return message(NET_LAYERS_V1, body)
    body = string(LP_NAME, name) + string(LP_TYPE, kind)
    body += b"".join(message(LP_BLOBS, blob(b, **blob_options)) for b in blobs)
    return message(NET_LAYER, body)


def caffemodel(layers: list[tuple[str, str, list]], v1=False, **blob_options) -> bytes:
    """A NetParameter: a name, a data layer without blobs, then ``layers``."""
    net = string(1, "test-net") + layer("data", "Data", v1=v1)
    return net + b"".join(layer(n, k, b, v1=v1, **blob_options) for n, k, b in layers)


def from_state(state: dict, fc: tuple[str, ...] = ()) -> list[tuple[str, str, list]]:
    """Caffe layers from a torch state dict (torch and Caffe share the (out, in, kh, kw) and
    deconvolution (in, out, kh, kw) layouts); layers in ``fc`` become InnerProduct layers
    (weights flattened in Caffe's (C, H, W) input order, as a classifier's)."""
    layers: dict[str, list] = {}
    for name, value in state.items():
        layer_name, _, _ = name.rpartition(".")
        layers.setdefault(layer_name, []).append(np.asarray(value))
    result = []
    for name, blobs in layers.items():
        if name in fc:
            blobs = [blobs[0].reshape(blobs[0].shape[0], -1), *blobs[1:]]
            kind = "InnerProduct"
        else:
            kind = "Deconvolution" if name.startswith("upscore") else "Convolution"
        result.append((name, kind, blobs))
    return result


# Full layer definitions, both encodings. A schema maps a field name to (number, kind); kinds:
# "str", "uint"/"int" (varint), "bool", "float" (fixed32), "packed" (packed varints), an enum
# dict, or a nested schema dict. Repeated fields take lists, written one by one (unpacked), as
# Caffe writes its repeated int/float fields; fields go out in field-number order.
PHASE = {"TRAIN": 0, "TEST": 1}
FILLER = {"type": (1, "str"), "value": (2, "float"), "min": (3, "float"), "max": (4, "float"),
          "mean": (5, "float"), "std": (6, "float"), "sparse": (7, "int"),
          "variance_norm": (8, {"FAN_IN": 0, "FAN_OUT": 1, "AVERAGE": 2})}  # fmt: skip
PARAM_SPEC = {"name": (1, "str"), "lr_mult": (3, "float"), "decay_mult": (4, "float")}
RULE = {"phase": (1, PHASE), "min_level": (2, "int"), "max_level": (3, "int"),
        "stage": (4, "str"), "not_stage": (5, "str")}  # fmt: skip
CONV = {"num_output": (1, "uint"), "bias_term": (2, "bool"), "pad": (3, "uint"),
        "kernel_size": (4, "uint"), "group": (5, "uint"), "stride": (6, "uint"),
        "weight_filler": (7, FILLER), "bias_filler": (8, FILLER), "pad_h": (9, "uint"),
        "pad_w": (10, "uint"), "kernel_h": (11, "uint"), "kernel_w": (12, "uint"),
        "stride_h": (13, "uint"), "stride_w": (14, "uint"), "axis": (16, "int"),
        "dilation": (18, "uint")}  # fmt: skip
MESSAGES = {  # LayerParameter's param messages: (new field, V1 field or None, schema)
    "transform_param": (100, 36, {"scale": (1, "float"), "mirror": (2, "bool"),
                                  "crop_size": (3, "uint"), "mean_file": (4, "str"),
                                  "mean_value": (5, "float")}),
    "loss_param": (101, 42, {"ignore_label": (1, "int"), "normalize": (2, "bool"),
                             "normalization": (3, {"FULL": 0, "VALID": 1, "BATCH_SIZE": 2,
                                                   "NONE": 3})}),
    "accuracy_param": (102, 27, {"top_k": (1, "uint"), "axis": (2, "int"),
                                 "ignore_label": (3, "int")}),
    "concat_param": (104, 9, {"concat_dim": (1, "uint"), "axis": (2, "int")}),
    "convolution_param": (106, 10, CONV),
    "data_param": (107, 11, {"source": (1, "str"), "batch_size": (4, "uint"),
                             "backend": (8, {"LEVELDB": 0, "LMDB": 1})}),
    "dropout_param": (108, 12, {"dropout_ratio": (1, "float")}),
    "eltwise_param": (110, 24, {"operation": (1, {"PROD": 0, "SUM": 1, "MAX": 2}),
                                "coeff": (2, "float"), "stable_prod_grad": (3, "bool")}),
    "inner_product_param": (117, 17, {"num_output": (1, "uint"), "bias_term": (2, "bool"),
                                      "weight_filler": (3, FILLER),
                                      "bias_filler": (4, FILLER), "axis": (5, "int"),
                                      "transpose": (6, "bool")}),
    "lrn_param": (118, 18, {"local_size": (1, "uint"), "alpha": (2, "float"),
                            "beta": (3, "float"),
                            "norm_region": (4, {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}),
                            "k": (5, "float")}),
    "pooling_param": (121, 19, {"pool": (1, {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}),
                                "kernel_size": (2, "uint"), "stride": (3, "uint"),
                                "pad": (4, "uint"), "kernel_h": (5, "uint"),
                                "kernel_w": (6, "uint"), "stride_h": (7, "uint"),
                                "stride_w": (8, "uint"), "pad_h": (9, "uint"),
                                "pad_w": (10, "uint"), "global_pooling": (12, "bool")}),
    "relu_param": (123, 30, {"negative_slope": (1, "float")}),
    "softmax_param": (125, 39, {"axis": (2, "int")}),
    "python_param": (130, None, {"module": (1, "str"), "layer": (2, "str"),
                                 "param_str": (3, "str"), "share_in_parallel": (4, "bool")}),
    "scale_param": (142, None, {"axis": (1, "int"), "num_axes": (2, "int"),
                                "filler": (3, FILLER), "bias_term": (4, "bool"),
                                "bias_filler": (5, FILLER)}),
    "input_param": (143, None, {"shape": (1, {"dim": (1, "packed")})}),
    "crop_param": (144, None, {"axis": (1, "int"), "offset": (2, "uint")}),
}  # fmt: skip
LP_BOTTOM, LP_TOP, LP_LOSS_WEIGHT, LP_PARAM, LP_INCLUDE, LP_EXCLUDE, LP_PHASE = 3, 4, 5, 6, 8, 9, 10
V1_BOTTOM, V1_TOP, V1_BLOBS_LR, V1_WEIGHT_DECAY = 2, 3, 7, 8
V1_INCLUDE, V1_EXCLUDE, V1_LOSS_WEIGHT = 32, 33, 35
V1_ENUM.update({"Accuracy": 1, "Concat": 3, "Eltwise": 25, "Softmax": 20,
                "SoftmaxWithLoss": 21, "Split": 22})  # fmt: skip


def _scalar(field: int, kind, value) -> bytes:
    if isinstance(kind, dict) and all(isinstance(v, int) for v in kind.values()):  # an enum
        return number(field, kind[value] if isinstance(value, str) else int(value))
    if isinstance(kind, dict):
        return message(field, encode(kind, value))
    if kind == "str":
        return string(field, value)
    if kind == "float":
        return key(field, 5) + struct.pack("<f", value)
    if kind == "packed":
        return message(field, b"".join(varint(int(v)) for v in value))
    return number(field, int(value))  # uint, int (two's complement, 10 bytes), bool


def encode(schema: dict, values: dict) -> bytes:
    """A message from ``values`` (field name -> value or list of values) with ``schema``."""
    unknown = set(values) - set(schema)
    if unknown:
        raise KeyError(f"no such field(s): {sorted(unknown)}")
    out = b""
    for name in sorted(values, key=lambda n: schema[n][0]):
        field, kind = schema[name]
        value = values[name]
        many = isinstance(value, (list, tuple)) and kind != "packed"
        out += b"".join(_scalar(field, kind, v) for v in (value if many else [value]))
    return out


def layer_def(d, v1=False, **blob_options) -> bytes:
    """One LayerDef (name, type, bottom, top, params, blobs) as a NetParameter ``layer`` (100),
    or with ``v1`` a ``layers`` (2) V1LayerParameter: type as the enum, ``param`` specs as
    blobs_lr/weight_decay, no phase (V1 has none)."""
    params = dict(d.params)
    specs = params.pop("param", [])
    rules = {k: params.pop(k, []) for k in ("include", "exclude")}
    loss_weight, phase = params.pop("loss_weight", []), params.pop("phase", None)
    blobs = [message(V1_BLOBS if v1 else LP_BLOBS, blob(b, **blob_options)) for b in d.blobs]
    fields: list[tuple[int, bytes]] = []
    if v1:
        if d.type not in V1_ENUM:
            raise ValueError(f"layer {d.name!r}: type {d.type!r} has no V1 encoding")
        fields += [(V1_NAME, string(V1_NAME, d.name)), (V1_TYPE, number(V1_TYPE, V1_ENUM[d.type]))]
        fields += [(V1_BOTTOM, string(V1_BOTTOM, b)) for b in d.bottom]
        fields += [(V1_TOP, string(V1_TOP, t)) for t in d.top]
        fields += [(V1_BLOBS, b) for b in blobs]
        for field, spec_key in ((V1_BLOBS_LR, "lr_mult"), (V1_WEIGHT_DECAY, "decay_mult")):
            values = [s[spec_key] for s in specs if spec_key in s]
            fields += [(field, _scalar(field, "float", v)) for v in values]
        rule_fields, lw_field = (V1_INCLUDE, V1_EXCLUDE), V1_LOSS_WEIGHT
    else:
        fields += [(LP_NAME, string(LP_NAME, d.name)), (LP_TYPE, string(LP_TYPE, d.type))]
        fields += [(LP_BOTTOM, string(LP_BOTTOM, b)) for b in d.bottom]
        fields += [(LP_TOP, string(LP_TOP, t)) for t in d.top]
        fields += [(LP_PARAM, _scalar(LP_PARAM, PARAM_SPEC, s)) for s in specs]
        fields += [(LP_BLOBS, b) for b in blobs]
        if phase is not None:
            fields.append((LP_PHASE, _scalar(LP_PHASE, PHASE, phase)))
        rule_fields, lw_field = (LP_INCLUDE, LP_EXCLUDE), LP_LOSS_WEIGHT
    fields += [(lw_field, _scalar(lw_field, "float", w)) for w in loss_weight]
    for field, kind in zip(rule_fields, ("include", "exclude"), strict=True):
        fields += [(field, _scalar(field, RULE, r)) for r in rules[kind]]
    for name, value in params.items():
        if name not in MESSAGES:
            raise KeyError(f"layer {d.name!r}: unknown parameter message {name!r}")
        new_field, v1_field, schema = MESSAGES[name]
        if v1 and v1_field is None:
            raise ValueError(f"layer {d.name!r}: {name} has no V1 encoding")
        field = v1_field if v1 else new_field
        fields.append((field, message(field, encode(schema, value))))
    body = b"".join(f for _, f in sorted(fields, key=lambda f: f[0]))  # stable: keeps order
    return message(NET_LAYERS_V1 if v1 else NET_LAYER, body)


def caffemodel_from_defs(defs, v1=False, name="", **blob_options) -> bytes:
    """A NetParameter holding ``defs`` (LayerDefs, in order) as Caffe's Net::ToProto writes
    them: the layer definitions with their blobs. V1 blobs default to the legacy
    num/channels/height/width dims, as the V1-era files have them."""
    if v1:
        blob_options.setdefault("legacy", True)
    net = string(1, name) if name else b""
    return net + b"".join(layer_def(d, v1=v1, **blob_options) for d in defs)
