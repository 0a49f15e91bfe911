"""What :func:`fcn_jax.geometry.jaxpr.analyze` returns: every value with spatial axes, where
paths meet, and where the analysis of a path ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from jax.extend.core import ClosedJaxpr

from fcn_jax.geometry.algebra import Primitive
from fcn_jax.geometry.axis import Axis
from fcn_jax.geometry.jaxpr_rules import State


@dataclass(frozen=True)
class Value:
    """One value with spatial axes: where it was made and its axes (by label)."""

    key: tuple[int, ...]  # the equation's path through the sub-jaxprs, then the output index
    name: str  # the name stack (a Flax module's path), or the primitive
    primitive: str
    source: str  # file:line (function)
    axes: tuple[Axis, ...]
    dims: tuple[int, ...]  # the dimension of the value that holds each axis
    shape: tuple[int, ...]
    ops: dict[int, tuple[Primitive, ...]] = field(default_factory=dict)  # what changed it


@dataclass(frozen=True)
class Meeting:
    """Two or more paths combined elementwise or concatenated: operand 0 is the reference."""

    value: Value
    operands: tuple[tuple[Axis, ...], ...]

    @property
    def aligned(self) -> bool:
        return all(a.aligned(b) for axes in self.operands[1:]
                   for a, b in zip(axes, self.operands[0], strict=True))  # fmt: skip

    def offsets(self) -> list[tuple[Fraction | None, ...]]:
        """Per operand after the first, per axis: ``c`` such that its unit ``j + c`` is
        centred where unit ``j`` of operand 0 is (None: the strides differ)."""
        return [tuple(a.offset_to(b) for a, b in zip(axes, self.operands[0], strict=True))
                for axes in self.operands[1:]]  # fmt: skip


@dataclass(frozen=True)
class Stop:
    """Where the analysis of a path ended: an unmapped primitive, or mixed spatial axes."""

    name: str
    primitive: str
    source: str
    reason: str


@dataclass
class Analysis:
    spatial_axes: tuple[int, ...]
    input_shape: tuple[int, ...]
    values: list[Value] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    unmapped: list[Stop] = field(default_factory=list)
    ended: list[Stop] = field(default_factory=list)
    outputs: list[State] = field(default_factory=list)
    closed: ClosedJaxpr | None = None
    argnum_leaf: int = 0  # the input's position among the flattened arguments

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return tuple(self.input_shape[d] for d in self.spatial_axes)

    def rows(self) -> list[Value]:
        """The values that changed the geometry or where paths met, in order."""
        met = {m.value.key for m in self.meetings}
        return [v for v in self.values if v.ops or v.key in met or not v.key]
