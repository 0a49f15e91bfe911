"""One spatial axis of a tensor: its coordinate map, its ``f_ks`` and every unit's support.

:class:`~fcn_jax.geometry.algebra.Trace` holds both axes of our nets' tensors under one
primitive per layer. A jaxpr's operations may treat the axes differently (a 3x1 kernel, a
resize of another ratio per axis, an axis padded on one side), so the jaxpr analysis carries an
``Axis`` per spatial axis, moved through the same primitives by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fcn_jax.geometry.algebra import CoordMap, Field, Primitive, hull


@dataclass(frozen=True, eq=False)
class Axis:
    """Spatial axis ``label`` (its index in the analysis' ``spatial_axes``) of one tensor."""

    label: int
    map: CoordMap
    field: Field
    lo: np.ndarray  # per unit, the first input unit it depends on (lo > hi: none)
    hi: np.ndarray

    @classmethod
    def input(cls, label: int, n: int) -> Axis:
        units = np.arange(n)
        return cls(label, CoordMap(), Field(), units, units)

    @property
    def size(self) -> int:
        return len(self.lo)

    def through(self, op: Primitive, n_out: int) -> Axis:
        """The axis after ``op``, which leaves ``n_out`` units."""
        lo, hi = hull(self.lo, self.hi, *op.reads(n_out, self.size))
        return Axis(self.label, self.map.then(op.coord_map()), self.field.then(op.field()), lo, hi)

    def aligned(self, other: Axis) -> bool:
        return self.map == other.map and self.size == other.size

    def offset_to(self, like: Axis) -> Fraction | None:
        """``c`` such that unit ``j + c`` of this axis is centred where unit ``j`` of ``like``
        is (the crop offset), or None where the strides differ and no shift aligns them."""
        if self.map.scale != like.map.scale:
            return None
        return (like.map.shift - self.map.shift) / self.map.scale

    def joined(self, other: Axis) -> Axis:
        """The axis of an elementwise combination: the union of the supports; the window is
        the hull of both windows when the strides agree (the wider one when aligned)."""
        lo, hi = np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi)
        a, b = self, other
        if a.map.scale != b.map.scale:
            return Axis(a.label, a.map, a.field, lo, hi)
        half_a, half_b = (a.field.k - 1) / 2, (b.field.k - 1) / 2
        first = min(a.map.shift - half_a, b.map.shift - half_b)
        last = max(a.map.shift + half_a, b.map.shift + half_b)
        centre = CoordMap(a.map.scale, (first + last) / 2)
        return Axis(a.label, centre, Field(last - first + 1, a.field.s), lo, hi)

    def box(self, unit: int) -> tuple[int, int] | None:
        lo, hi = int(self.lo[unit]), int(self.hi[unit])
        return None if lo > hi else (lo, hi)
