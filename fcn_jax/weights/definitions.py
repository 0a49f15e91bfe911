"""The layer definitions a ``.caffemodel`` carries beside its blobs, read without protobuf.

Caffe's solver saves the net it trained (``Net::ToProto``): each layer with its bottoms, tops
and the parameter message of its type. This module turns those messages into plain dicts with
Caffe's defaults filled in, keyed by the field names of the published ``caffe.proto``, so the
importer can compare them with what our geometry derives. Only the parameters that decide what
a layer computes are read; fillers, learning-rate multipliers and data sources are not.
"""

from __future__ import annotations

import struct

from fcn_jax.weights.wire import BYTES, FIXED32, VARINT, WireError, fields, ints

# LayerParameter / V1LayerParameter field numbers of each parameter message.
PARAM_FIELDS = {
    "convolution_param": (106, 10),
    "pooling_param": (121, 19),
    "crop_param": (144, None),
    "eltwise_param": (110, 24),
    "scale_param": (142, None),
    "inner_product_param": (117, 17),
    "lrn_param": (118, 18),
    "concat_param": (104, 9),
    "dropout_param": (108, 12),
    "relu_param": (123, 30),
    "python_param": (130, None),
}
BOTTOM, TOP = (3, 2), (4, 3)  # (LayerParameter, V1LayerParameter)

# Each message's fields: name -> (number, kind, default); kind "int", "float", "bool",
# "ints" (repeated), "floats" (repeated) or an enum's names by value.
MESSAGES = {
    "convolution_param": {
        "num_output": (1, "int", None),
        "bias_term": (2, "bool", True),
        "pad": (3, "ints", ()),
        "kernel_size": (4, "ints", ()),
        "stride": (6, "ints", ()),
        "dilation": (18, "ints", ()),
        "pad_h": (9, "int", None),
        "pad_w": (10, "int", None),
        "kernel_h": (11, "int", None),
        "kernel_w": (12, "int", None),
        "stride_h": (13, "int", None),
        "stride_w": (14, "int", None),
        "group": (5, "int", 1),
        "axis": (16, "int", 1),
    },
    "pooling_param": {
        "pool": (1, ("MAX", "AVE", "STOCHASTIC"), "MAX"),
        "pad": (4, "ints", ()),
        "pad_h": (9, "int", None),
        "pad_w": (10, "int", None),
        "kernel_size": (2, "ints", ()),
        "kernel_h": (5, "int", None),
        "kernel_w": (6, "int", None),
        "stride": (3, "ints", ()),
        "stride_h": (7, "int", None),
        "stride_w": (8, "int", None),
        "global_pooling": (12, "bool", False),
    },
    "crop_param": {"axis": (1, "int", 2), "offset": (2, "ints", ())},
    "eltwise_param": {"operation": (1, ("PROD", "SUM", "MAX"), "SUM"), "coeff": (2, "floats", ())},
    "scale_param": {
        "axis": (1, "int", 1),
        "num_axes": (2, "int", 1),
        "bias_term": (4, "bool", False),
    },
    "inner_product_param": {
        "num_output": (1, "int", None),
        "bias_term": (2, "bool", True),
        "axis": (5, "int", 1),
        "transpose": (6, "bool", False),
    },
    "lrn_param": {
        "local_size": (1, "int", 5),
        "alpha": (2, "float", 1.0),
        "beta": (3, "float", 0.75),
        "norm_region": (4, ("ACROSS_CHANNELS", "WITHIN_CHANNEL"), "ACROSS_CHANNELS"),
        "k": (5, "float", 1.0),
    },
    "concat_param": {"axis": (2, "int", 1), "concat_dim": (1, "int", 1)},
    "dropout_param": {"dropout_ratio": (1, "float", 0.5)},
    "relu_param": {"negative_slope": (1, "float", 0.0)},
    "python_param": {
        "module": (1, "str", ""),
        "layer": (2, "str", ""),
        "param_str": (3, "str", ""),
    },
}


def _float(wire: int, value) -> float:
    if wire != FIXED32:
        raise WireError(f"a float field has wire type {wire}")
    return struct.unpack("<f", int(value).to_bytes(4, "little"))[0]


def parse_message(kind: str, data: memoryview, where: str) -> dict:
    """The fields of parameter message ``kind`` (a key of ``MESSAGES``), defaults filled in."""
    spec = MESSAGES[kind]
    by_number = {number: name for name, (number, _, _) in spec.items()}
    records: dict[str, list] = {}
    for field, wire, value, _ in fields(data):
        if field in by_number:
            records.setdefault(by_number[field], []).append((wire, value))
    result = {}
    for name, (_, how, default) in spec.items():
        found = records.get(name)
        if not found:
            result[name] = default
            continue
        try:
            if how == "ints":
                result[name] = tuple(ints(found))
            elif how == "floats":
                result[name] = tuple(_floats(found))
            elif how == "float":
                result[name] = _float(*found[-1])
            elif how == "str":
                if found[-1][0] != BYTES:
                    raise WireError(f"wire type {found[-1][0]}")
                result[name] = bytes(found[-1][1]).decode("utf-8", "replace")
            else:
                if found[-1][0] != VARINT:
                    raise WireError(f"wire type {found[-1][0]}")
                number = ints(found[-1:])[0]
                if how == "bool":
                    result[name] = bool(number)
                elif how == "int":
                    result[name] = number
                else:
                    result[name] = how[number] if 0 <= number < len(how) else f"#{number}"
        except WireError as err:
            raise WireError(f"{where}: {kind}.{name} is malformed ({err})") from err
    return result


def _floats(records) -> list[float]:
    values = []
    for wire, value in records:
        if wire == BYTES:
            if len(value) % 4:
                raise WireError("a packed float field of odd length")
            values += [v for (v,) in struct.iter_unpack("<f", bytes(value))]
        else:
            values.append(_float(wire, value))
    return values


def parse_definition(found: dict, v1: bool, name: str) -> tuple[tuple, tuple, dict]:
    """(bottoms, tops, {param message: fields}) of a layer whose records are ``found``
    (field number -> [(wire, value, offset)])."""
    index = 1 if v1 else 0
    strings = []
    for numbers in (BOTTOM, TOP):
        names = []
        for wire, value, at in found.get(numbers[index], []):
            if wire != BYTES:
                raise WireError(f"a bottom/top of layer {name!r} at byte {at} is not a string")
            names.append(bytes(value).decode("utf-8", "replace"))
        strings.append(tuple(names))
    params = {}
    for kind, numbers in PARAM_FIELDS.items():
        number = numbers[index]
        if number is None or number not in found:
            continue
        wire, value, at = found[number][-1]
        if wire != BYTES:
            raise WireError(f"{kind} of layer {name!r} at byte {at} is not a message")
        params[kind] = parse_message(kind, value, f"layer {name!r}")
    return strings[0], strings[1], params


def spatial(param: dict, field: str, default: int) -> tuple[int, int]:
    """(height, width) of a convolution's or pooling's ``kernel``/``stride``/``pad`` as Caffe
    resolves them: ``field_h``/``field_w`` if given, else the repeated field (one value for
    both axes, or one per axis), else ``default``."""
    key = {"kernel": "kernel_size"}.get(field, field)
    h, w = param.get(f"{field}_h"), param.get(f"{field}_w")
    if h is not None or w is not None:
        return (h if h is not None else default, w if w is not None else default)
    values = param.get(key, ())
    if not values:
        return (default, default)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
