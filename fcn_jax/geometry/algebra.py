"""The f_ks algebra: coordinate maps, the paper's composition rule, supports, crop offsets.

Every spatial layer is one of three primitives, declared by the layer that runs it:

* ``Window(k, s, p)``   -- convolution or pooling: output unit ``j`` reads inputs
  ``s*j - p .. s*j - p + k - 1``; with dilation ``d`` (à trous) it reads every ``d``-th of
  ``s*j - p .. s*j - p + d(k-1)``, an effective kernel of ``d(k-1) + 1``;
* ``Upsample(k, s, p)`` -- deconvolution ("backwards strided convolution"): input unit ``i``
  writes outputs ``s*i - p .. s*i - p + k - 1``;
* ``Shift(c)``          -- crop: output unit ``j`` is input unit ``j + c``.

From a primitive follow (1) its coordinate map, the affine map from an output coordinate to the
input coordinate of the centre of what it reads, (2) its ``Field``, the paper's ``f_ks`` whose
composition ``f_ks o g_k's' = (f o g)_{k' + (k-1)s', ss'}`` gives receptive field and stride, and
(3) the exact support of every unit, clipped at the borders, for a concrete input size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


class GeometryError(ValueError):
    """Two paths of a net cannot be aligned, or a layer's output disagrees with its geometry."""


@dataclass(frozen=True)
class CoordMap:
    """Per-axis affine map ``x = scale * y + shift`` from a unit ``y`` to input coordinates."""

    scale: Fraction = Fraction(1)
    shift: Fraction = Fraction(0)

    def then(self, layer: CoordMap) -> CoordMap:
        """The map of a node reached through ``self`` and then through ``layer``."""
        return CoordMap(self.scale * layer.scale, self.scale * layer.shift + self.shift)

    def __call__(self, y: Fraction | int) -> Fraction:
        return self.scale * y + self.shift


@dataclass(frozen=True)
class Field:
    """The paper's ``f_ks``: receptive field ``k`` and stride ``s`` measured in input pixels."""

    k: Fraction = Fraction(1)
    s: Fraction = Fraction(1)

    def then(self, f: Field) -> Field:
        """``f o self``: the rule ``f_ks o g_k's' = (f o g)_{k' + (k-1)s', ss'}`` with g = self."""
        return Field(self.k + (f.k - 1) * self.s, self.s * f.s)


@dataclass(frozen=True)
class Window:
    """Convolution or pooling window: kernel ``k``, stride ``s``, padding ``p`` on both sides,
    dilation ``d`` (the taps ``d`` apart: a dilated ``f_ks`` is an ``f_{d(k-1)+1, s}``)."""

    k: int
    s: int = 1
    p: int = 0
    ceil: bool = False  # Caffe's pooling rounds the output size up
    d: int = 1

    @property
    def extent(self) -> int:
        """The effective kernel: input units from the first tap to the last."""
        return self.d * (self.k - 1) + 1

    def coord_map(self) -> CoordMap:
        return CoordMap(Fraction(self.s), Fraction(self.extent - 1, 2) - self.p)

    def field(self) -> Field:
        return Field(Fraction(self.extent), Fraction(self.s))

    def out_size(self, n: int) -> int:
        span = n + 2 * self.p - self.extent
        if not self.ceil:
            return span // self.s + 1
        out = -(-span // self.s) + 1
        if self.p > 0 and (out - 1) * self.s >= n + self.p:
            out -= 1  # Caffe: the last window must start inside the image or left padding
        return out

    def reads(self, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        start = self.s * np.arange(n_out) - self.p
        return np.maximum(start, 0), np.minimum(start + self.extent - 1, n_in - 1)


@dataclass(frozen=True)
class Upsample:
    """Deconvolution by ``s`` with kernel ``k`` and padding ``p``: the transpose of a Window."""

    k: int
    s: int
    p: int = 0

    def coord_map(self) -> CoordMap:
        return CoordMap(Fraction(1, self.s), (self.p - Fraction(self.k - 1, 2)) / self.s)

    def field(self) -> Field:
        # An output unit sees at most ceil(k/s) input units: the widest of its phases.
        return Field(Fraction(math.ceil(self.k / self.s)), Fraction(1, self.s))

    def out_size(self, n: int) -> int:
        return (n - 1) * self.s + self.k - 2 * self.p

    def reads(self, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        j = np.arange(n_out) + self.p
        lo = -((self.k - 1 - j) // self.s)  # ceil((j - k + 1) / s)
        return np.maximum(lo, 0), np.minimum(j // self.s, n_in - 1)


@dataclass(frozen=True)
class Shift:
    """Crop: output unit ``j`` is input unit ``j + c``."""

    c: int

    def coord_map(self) -> CoordMap:
        return CoordMap(Fraction(1), Fraction(self.c))

    def field(self) -> Field:
        return Field()

    def reads(self, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        j = np.arange(n_out) + self.c
        inside = (j >= 0) & (j < n_in)  # a shift that pads: the new units read nothing
        return j, np.where(inside, j, j - 1)


@dataclass(frozen=True)
class Resize:
    """Bilinear resize with half-pixel centres (torch ``align_corners=False``, jax.image.resize)
    from ``n_in`` to ``n_out`` units: output ``j`` reads the two inputs around
    ``(j + 1/2) n_in / n_out - 1/2``, clamped at the borders. Used by the dilated ResNet FCNs to
    go back to the input size; the ratio may differ per axis, the coordinate map is that of the
    rows (``ratio`` = rows in / rows out)."""

    ratio: Fraction

    def coord_map(self) -> CoordMap:
        return CoordMap(self.ratio, self.ratio / 2 - Fraction(1, 2))

    def field(self) -> Field:
        return Field(Fraction(2), self.ratio)

    def reads(self, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        # source position times 2*n_out: (2j + 1) n_in - n_out, clamped at 0
        num = np.maximum((2 * np.arange(n_out) + 1) * n_in - n_out, 0)
        lo = np.minimum(num // (2 * n_out), n_in - 1)
        between = (num % (2 * n_out) != 0) & (lo + 1 < n_in)
        return lo, lo + between


Primitive = Window | Upsample | Shift | Resize


def hull(lo: np.ndarray, hi: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Per output unit, the hull of the supports of input units ``a..b`` (empty where a > b)."""
    width = int(max(1, (b - a + 1).max(initial=1)))
    idx = a[:, None] + np.arange(width)[None, :]
    valid = idx <= b[:, None]
    idx = np.clip(idx, 0, len(lo) - 1)
    big = np.iinfo(np.int64).max
    out_lo = np.where(valid, lo[idx], big).min(axis=1)
    out_hi = np.where(valid, hi[idx], -1).max(axis=1)
    return out_lo, out_hi


@dataclass(frozen=True, eq=False)
class Trace:
    """Geometry of one tensor of a net: map to the input, field, and per-axis exact supports.

    ``rows``/``cols`` hold, for every unit along that axis, the first and last input pixel it
    depends on (first > last where it depends on none, e.g. a unit that sees only padding).
    """

    map: CoordMap
    field: Field
    rows: tuple[np.ndarray, np.ndarray]
    cols: tuple[np.ndarray, np.ndarray]

    @classmethod
    def input(cls, height: int, width: int) -> Trace:
        r, c = np.arange(height), np.arange(width)
        return cls(CoordMap(), Field(), (r, r), (c, c))

    @property
    def size(self) -> tuple[int, int]:
        return len(self.rows[0]), len(self.cols[0])

    def through(self, op: Primitive, size: tuple[int, int], name: str = "?") -> Trace:
        """The trace after ``op``, whose output has spatial ``size`` (checked against ``op``)."""
        for n_in, n_out in zip(self.size, size, strict=True):
            expected = op.out_size(n_in) if hasattr(op, "out_size") else n_out
            if n_out != expected or (isinstance(op, Shift) and n_out + op.c > n_in):
                raise GeometryError(
                    f"layer {name}: output size {n_out} from input size {n_in} disagrees with "
                    f"its declared geometry {op}"
                )
        rows = hull(*self.rows, *op.reads(size[0], self.size[0]))
        cols = hull(*self.cols, *op.reads(size[1], self.size[1]))
        return Trace(self.map.then(op.coord_map()), self.field.then(op.field()), rows, cols)

    def merged(self, other: Trace, name: str = "?") -> Trace:
        """The trace of the elementwise sum of two aligned tensors of the same size."""
        if self.map != other.map or self.size != other.size:
            raise GeometryError(f"layer {name}: summed tensors are not aligned")

        def union(a, b):
            return np.minimum(a[0], b[0]), np.maximum(a[1], b[1])

        field = Field(max(self.field.k, other.field.k), self.field.s)
        return Trace(self.map, field, union(self.rows, other.rows), union(self.cols, other.cols))

    def box(self, i: int, j: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Inclusive input box ``((top, bottom), (left, right))`` of unit (i, j), or None."""
        rows = int(self.rows[0][i]), int(self.rows[1][i])
        cols = int(self.cols[0][j]), int(self.cols[1][j])
        if rows[0] > rows[1] or cols[0] > cols[1]:
            return None
        return rows, cols


def chain(ops: Iterable[Window | Upsample], height: int, width: int) -> Trace:
    """The trace at the end of a plain chain of windows and upsamplings on an input size."""
    trace = Trace.input(height, width)
    for op in ops:
        size = tuple(op.out_size(n) for n in trace.size)
        if min(size) < 1:
            raise GeometryError(f"{op} leaves no output from a {trace.size} input")
        trace = trace.through(op, size)
    return trace


def crop_offset(cropped: CoordMap, like: CoordMap, cropped_name: str, like_name: str) -> int:
    """Offset ``c``: unit ``j + c`` of ``cropped`` is centred where unit ``j`` of ``like`` is.

    This is what the reference crop layers use. A non-integer or negative offset means the two
    paths cannot be aligned by cropping and is an error naming both layers.
    """
    if cropped.scale != like.scale:
        raise GeometryError(
            f"cannot crop {cropped_name} (stride {cropped.scale}) to {like_name} "
            f"(stride {like.scale}): the strides differ"
        )
    offset = (like.shift - cropped.shift) / cropped.scale
    if offset.denominator != 1:
        raise GeometryError(
            f"cropping {cropped_name} to {like_name} needs a fractional offset {offset}: "
            "the two paths are misaligned by a sub-unit shift"
        )
    if offset < 0:
        raise GeometryError(
            f"cropping {cropped_name} to {like_name} needs a negative offset {offset}: "
            f"{like_name} starts before {cropped_name}"
        )
    return int(offset)
