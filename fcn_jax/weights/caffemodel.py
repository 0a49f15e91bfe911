"""Reading a ``.caffemodel`` (a serialized Caffe ``NetParameter``) without Caffe or protobuf.

Field numbers are those of Caffe's published ``caffe.proto``. Both encodings occur in the
wild: nets saved since 2015 use ``layer`` (field 100, ``LayerParameter``, type a string);
older ones, such as the ILSVRC VGG16 and CaffeNet files, ``layers`` (field 2,
``V1LayerParameter``, type an enum). Blobs carry ``shape`` or the legacy num, channels,
height, width. Weights keep Caffe's layout: (out, in/groups, kh, kw) for convolutions,
(in, out/groups, kh, kw) for deconvolutions, (out, in) for inner products.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fcn_jax.weights.definitions import parse_definition
from fcn_jax.weights.wire import (
    BYTES,
    FIXED32,
    FIXED64,
    VARINT,
    WireError,
    fields,
    floats,
    ints,
)

NET_LAYERS_V1, NET_LAYER = 2, 100
LAYER_NAME, LAYER_TYPE, LAYER_BLOBS = 1, 2, 7
V1_V0LAYER, V1_NAME, V1_TYPE, V1_BLOBS = 1, 4, 5, 6
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH = 1, 2, 3, 4
BLOB_DATA, BLOB_SHAPE, BLOB_DOUBLE_DATA, SHAPE_DIM = 5, 7, 8, 1

# V1LayerParameter.LayerType values and the type strings the new encoding uses for them.
V1_TYPES = {
    1: "Accuracy", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout", 8: "Flatten",
    14: "InnerProduct", 15: "LRN", 17: "Pooling", 18: "ReLU", 20: "Softmax",
    21: "SoftmaxWithLoss", 22: "Split", 25: "Eltwise", 39: "Deconvolution", 9: "HDF5Data",
    12: "ImageData", 29: "MemoryData", 32: "DummyData", 36: "Silence", 24: "WindowData",
}  # fmt: skip


class CaffeError(ValueError):
    """A file that is not a readable ``.caffemodel``; names the file and, where it can, the
    layer and byte."""


class CaffeLayer(NamedTuple):
    """A layer of the net: its name, its type and its blobs (weights first, then bias); with
    the definition the file carries (bottoms, tops, ``{param message: fields}``, see
    :mod:`.definitions`), empty in a file of weights only."""

    name: str
    type: str
    blobs: tuple[np.ndarray, ...]
    bottom: tuple[str, ...] = ()
    top: tuple[str, ...] = ()
    params: dict | None = None


def read_caffemodel(path: str | Path) -> list[CaffeLayer]:
    """Every layer of the ``.caffemodel`` at ``path``, in file order, with its blobs."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as err:
        raise CaffeError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        layers = parse_net(data)
    except WireError as err:
        raise CaffeError(f"{path} is not a .caffemodel (or is truncated): {err}") from err
    except CaffeError as err:
        raise CaffeError(f"{path}: {err}") from err
    if not any(layer.blobs for layer in layers):
        raise CaffeError(f"{path} holds no layer with weights: not a trained .caffemodel")
    return layers


def parse_net(data: memoryview) -> list[CaffeLayer]:
    """The layers of a serialized ``NetParameter``."""
    layers, seen = [], {}
    for field, wire, value, offset in fields(data):
        if field not in (NET_LAYER, NET_LAYERS_V1):
            continue
        if wire != BYTES:
            raise WireError(f"layer field {field} at byte {offset} is not a message")
        layer = (parse_layer if field == NET_LAYER else parse_v1_layer)(value, offset)
        if layer.blobs and layer.name in seen:
            raise CaffeError(f"two layers with weights are named {layer.name!r}")
        if layer.blobs:
            seen[layer.name] = layer
        layers.append(layer)
    return layers


def _grouped(data: memoryview, offset: int) -> dict[int, list[tuple[int, int | memoryview]]]:
    found: dict[int, list] = {}
    for field, wire, value, at in fields(data, offset):
        found.setdefault(field, []).append((wire, value, at))
    return found


def _string(records, what: str) -> str:
    wire, value, at = records[-1]
    if wire != BYTES:
        raise WireError(f"{what} at byte {at} is not a string")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as err:
        raise WireError(f"{what} at byte {at} is not UTF-8 text") from err


def parse_layer(data: memoryview, offset: int) -> CaffeLayer:
    """A ``LayerParameter``: name, type string, blobs."""
    found = _grouped(data, offset)
    name = _string(found[LAYER_NAME], "layer name") if LAYER_NAME in found else ""
    kind = _string(found[LAYER_TYPE], f"type of layer {name!r}") if LAYER_TYPE in found else ""
    bottom, top, params = parse_definition(found, False, name)
    return CaffeLayer(name, kind, _blobs(found.get(LAYER_BLOBS, []), name), bottom, top, params)


def parse_v1_layer(data: memoryview, offset: int) -> CaffeLayer:
    """A ``V1LayerParameter``: name, type enum, blobs."""
    found = _grouped(data, offset)
    name = _string(found[V1_NAME], "layer name") if V1_NAME in found else ""
    if V1_V0LAYER in found:
        raise CaffeError(f"layer {name!r} uses the pre-2014 V0 encoding, which is not supported")
    number = found[V1_TYPE][-1][1] if V1_TYPE in found else 0
    kind = V1_TYPES.get(number, f"V1 type {number}")
    bottom, top, params = parse_definition(found, True, name)
    return CaffeLayer(name, kind, _blobs(found.get(V1_BLOBS, []), name), bottom, top, params)


def _blobs(records, layer: str) -> tuple[np.ndarray, ...]:
    blobs = []
    for i, (wire, value, at) in enumerate(records):
        if wire != BYTES:
            raise WireError(f"blob {i} of layer {layer!r} at byte {at} is not a message")
        blobs.append(parse_blob(value, at, f"blob {i} of layer {layer!r}"))
    return tuple(blobs)


def parse_blob(data: memoryview, offset: int, what: str) -> np.ndarray:
    """A ``BlobProto`` as a float32 array of its shape (legacy blobs are 4-d)."""
    found = _grouped(data, offset)
    if BLOB_SHAPE in found:
        wire, value, at = found[BLOB_SHAPE][-1]
        if wire != BYTES:
            raise WireError(f"{what}: shape at byte {at} is not a message")
        dims = _grouped(value, at).get(SHAPE_DIM, [])
        shape = tuple(ints([(w, v) for w, v, _ in dims]))
    else:
        legacy = (BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH)
        if any(found[f][-1][0] != VARINT for f in legacy if f in found):
            raise WireError(f"{what}: a legacy dimension is not a number")
        shape = tuple(found[f][-1][1] if f in found else 0 for f in legacy)
    encodings = ((BLOB_DATA, "<f4", FIXED32), (BLOB_DOUBLE_DATA, "<f8", FIXED64))
    for field, dtype, wire_single in encodings:
        if field in found:
            records = found[field]
            if any(w not in (BYTES, wire_single) for w, _, _ in records):
                raise WireError(f"{what}: data field has the wrong wire type")
            values = floats([(w, v) for w, v, _ in records], dtype).astype(np.float32)
            break
    else:
        values = np.zeros(0, np.float32)
    if any(d < 0 for d in shape) or values.size != math.prod(shape):
        raise CaffeError(f"{what} has {values.size} values but shape {shape} (truncated?)")
    return values.reshape(shape)
