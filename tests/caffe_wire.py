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
