"""The protobuf wire format, read without protobuf: enough to walk a ``.caffemodel``.

A message is a sequence of (field number, wire type, value) records; see the protobuf
encoding guide. Nothing here knows Caffe: :mod:`fcn_jax.weights.caffemodel` gives the
field numbers meaning.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message; says at which byte."""


def varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    start = pos
    while True:
        if pos >= len(buf):
            raise WireError(f"truncated varint at byte {start}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError(f"varint longer than 10 bytes at byte {start}")


def fields(buf: memoryview, base: int = 0) -> Iterator[tuple[int, int, int | memoryview, int]]:
    """Every record of the message in ``buf`` as (field, wire type, value, offset).

    Varints and fixed-width values come as ints (the raw bits), length-delimited ones as a
    memoryview of their bytes. ``offset`` is the record's position plus ``base`` (the
    message's own position in the file), so errors can say where the bad bytes are.
    """
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise WireError(f"field number 0 at byte {base + start}")
        if wire == VARINT:
            value, pos = varint(buf, pos)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > len(buf):
                raise WireError(f"truncated fixed-width field {field} at byte {base + start}")
            value = int.from_bytes(buf[pos : pos + size], "little")
            pos += size
        elif wire == BYTES:
            size, pos = varint(buf, pos)
            if pos + size > len(buf):
                raise WireError(
                    f"field {field} at byte {base + start} claims {size} bytes but only "
                    f"{len(buf) - pos} remain (truncated file?)"
                )
            value = buf[pos : pos + size]
            pos += size
        else:
            raise WireError(f"unknown wire type {wire} (field {field}) at byte {base + start}")
        yield field, wire, value, base + start


def floats(records: list[tuple[int, int | memoryview]], dtype: str) -> np.ndarray:
    """A repeated float (``'<f4'``) or double (``'<f8'``) field, packed or not, in order."""
    parts = []
    for wire, value in records:
        if wire == BYTES:
            if len(value) % np.dtype(dtype).itemsize:
                raise WireError(f"a packed {dtype} field of {len(value)} bytes (truncated?)")
            parts.append(np.frombuffer(value, dtype))
        else:
            size = np.dtype(dtype).itemsize
            parts.append(np.frombuffer(int(value).to_bytes(size, "little"), dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def ints(records: list[tuple[int, int | memoryview]]) -> list[int]:
    """A repeated varint field, packed or not, in order (as signed 64-bit values)."""
    result = []
    for wire, value in records:
        if wire == BYTES:
            pos = 0
            while pos < len(value):
                number, pos = varint(value, pos)
                result.append(number)
        else:
            result.append(value)
    return [n - (1 << 64) if n >= 1 << 63 else n for n in result]
