"""What each JAX primitive does to the spatial axes of its operand, in the f_ks algebra.

A value's state in the analysis is ``None`` (it does not depend on the analysed input: a
parameter, a constant, a per-channel vector), a ``Dims`` (``{dimension of the value: Axis}``
for each spatial axis it still has), or ``Ended`` (it depends on the input, but its spatial
axes were mixed together or pooled away: the analysis of that path stops there).

A rule takes the equation and its operands' states and returns a :class:`Step`: the results'
states and the primitives (``Window``, ``Upsample``, ``Shift``, ``Resize``) it applied on each
axis. A primitive it cannot map raises :class:`Unmapped`, never a guess. The layout rules
(reshape, transpose, broadcast, reductions) are in :mod:`fcn_jax.geometry.jaxpr_layout`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from fcn_jax.geometry.algebra import Primitive, Resize, Shift, Upsample, Window
from fcn_jax.geometry.axis import Axis

Dims = dict[int, Axis]


@dataclass(frozen=True)
class Ended:
    """A value that depends on the input but keeps no spatial axis the algebra can follow."""

    reason: str


State = Dims | Ended | None


class Unmapped(Exception):
    """A primitive the algebra has no rule for, on a value with spatial axes."""


@dataclass
class Step:
    outs: list[State]
    ops: dict[int, tuple[Primitive, ...]] = field(default_factory=dict)  # by axis label


Ops = dict[int, list[tuple[Primitive, int]]]  # by dimension: (primitive, units after it)


def moved(dims: Dims, ops: Ops) -> Step:
    """``dims`` with each dimension's primitives applied (the dimension numbers kept)."""
    out, applied = {}, {}
    for d, axis in dims.items():
        for op, n_out in ops.get(d, ()):
            axis = axis.through(op, n_out)
        out[d] = axis
        if d in ops:
            applied[axis.label] = tuple(op for op, _ in ops[d])
    return Step([out], applied)


def window_ops(k, s, pad, n_out, base=1, d=1) -> list[tuple[Primitive, int]]:
    """A window of ``k`` taps ``d`` apart, stride ``s``, padding ``(lo, hi)``, on the input
    dilated by ``base`` (``base > 1``: a transposed convolution, the inverse of a stride)."""
    lo = pad[0]
    if base == 1:
        return [(Window(k, s, lo, d=d), n_out)]
    extent = d * (k - 1) + 1  # input unit i, at u*i of the dilated input, writes these
    up = Upsample(extent, base, extent - 1 - lo)
    if s == 1:
        return [(up, n_out)]
    return [(up, (n_out - 1) * s + 1), (Window(1, s), n_out)]


def conv(eqn, ins, scope) -> Step:
    lhs, rhs = ins[:2]
    if isinstance(rhs, dict):
        raise Unmapped("its kernel depends on the input")
    lhs_spec, rhs_spec, out_spec = eqn.params["dimension_numbers"]
    if any(d in (lhs_spec[0], lhs_spec[1]) for d in lhs):
        return Step([Ended("a convolution takes a spatial axis as its batch or features")])
    kernel = eqn.invars[1].aval.shape
    out = eqn.outvars[0].aval.shape
    p = eqn.params
    ops, dims = {}, {}
    for i, (ld, od) in enumerate(zip(lhs_spec[2:], out_spec[2:], strict=True)):
        if ld in lhs:
            ops[ld] = window_ops(kernel[rhs_spec[2 + i]], p["window_strides"][i],
                                 p["padding"][i], out[od], p["lhs_dilation"][i],
                                 p["rhs_dilation"][i])  # fmt: skip
            dims[ld] = od
    step = moved(lhs, ops)
    step.outs = [{dims[d]: axis for d, axis in step.outs[0].items()}]
    return step


def reduce_window(eqn, ins, scope) -> Step:
    p = eqn.params
    operands = ins[: len(eqn.outvars)]  # the rest are the initial values
    first = next(x for x in operands if isinstance(x, dict))
    out = eqn.outvars[0].aval.shape
    ops = {d: window_ops(p["window_dimensions"][d], p["window_strides"][d], p["padding"][d],
                         out[d], p["base_dilation"][d], p["window_dilation"][d])
           for d in first}  # fmt: skip
    step = moved(first, ops)
    return Step(step.outs * len(eqn.outvars), step.ops)


def pad(eqn, ins, scope) -> Step:
    config, out = eqn.params["padding_config"], eqn.outvars[0].aval.shape
    ops = {}
    for d in ins[0]:
        lo, _, interior = config[d]
        op = Shift(-lo) if interior == 0 else Upsample(1, interior + 1, -lo)
        ops[d] = [(op, out[d])]
    return moved(ins[0], ops)


def slice_(eqn, ins, scope) -> Step:
    p, out = eqn.params, eqn.outvars[0].aval.shape
    strides = p["strides"] or (1,) * len(out)
    ops = {}
    for d in ins[0]:
        start, step = p["start_indices"][d], strides[d]
        ops[d] = [(Shift(start) if step == 1 else Window(1, step, -start), out[d])]
    return moved(ins[0], ops)


def dynamic_slice(eqn, ins, scope) -> Step:
    x, shape = ins[0], eqn.invars[0].aval.shape
    if any(isinstance(s, dict | Ended) for s in ins[1:]):
        raise Unmapped("its start depends on the input")
    sizes, ops = eqn.params["slice_sizes"], {}
    for d in x:
        start = scope.value_of(eqn.invars[1 + d])
        if start is None:
            raise Unmapped(f"its start on axis {d} is not a constant")
        start = int(np.clip(int(start), 0, shape[d] - sizes[d]))  # lax clamps it so
        ops[d] = [(Shift(start), sizes[d])]
    return moved(x, ops)


def split(eqn, ins, scope) -> Step:
    x, axis, sizes = ins[0], eqn.params["axis"], eqn.params["sizes"]
    if axis not in x:
        return Step([x] * len(sizes))
    outs, start, applied = [], 0, {}
    for n in sizes:
        step = moved(x, {axis: [(Shift(start), n)]})
        outs.append(step.outs[0])
        applied = step.ops
        start += n
    return Step(outs, applied)


def dot_general(eqn, ins, scope) -> Step:
    """A contraction. Over channels only (a dense layer on each pixel), the spatial axes move
    to their place in the result; over a spatial axis, the other operand must be a constant
    matrix whose pattern of nonzeros is exactly a primitive's (``jax.image.resize``'s bilinear
    weights are a ``Resize``); anything else is unmapped."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if isinstance(ins[0], dict) and isinstance(ins[1], dict):
        raise Unmapped("both operands have spatial axes")
    side = 0 if isinstance(ins[0], dict) else 1
    x, contract, batch = ins[side], (lc, rc)[side], (lb, rb)[side]
    other, o_contract, o_batch = 1 - side, (lc, rc)[1 - side], (lb, rb)[1 - side]
    shapes = [v.aval.shape for v in eqn.invars]
    free = [[d for d in range(len(s)) if d not in (lc, rc)[i] + (lb, rb)[i]]
            for i, s in enumerate(shapes)]  # fmt: skip
    position = {(i, d): len(lb) + (0 if i == 0 else len(free[0])) + free[i].index(d)
                for i in (0, 1) for d in free[i]}  # fmt: skip
    where = {}
    for d, axis in x.items():
        if d in batch:
            where[d] = (batch.index(d), axis)
        elif d not in contract:
            where[d] = (position[side, d], axis)
    contracted = [d for d in x if d in contract]
    if not contracted:
        return Step([{pos: axis for pos, axis in where.values()}])
    if len(contracted) > 1:
        return Step([Ended("a contraction sums over two spatial axes")])
    d = contracted[0]
    matrix = scope.value_of(eqn.invars[other])
    o_free = [e for e in free[other] if shapes[other][e] > 1]
    if matrix is None or len(o_free) != 1 or o_batch:
        raise Unmapped("it contracts a spatial axis with a non-constant or non-matrix operand")
    c = o_contract[contract.index(d)]
    rows = np.moveaxis(np.asarray(matrix), (o_free[0], c), (0, 1))
    rows = rows.reshape(rows.shape[0], rows.shape[1], -1)
    op = fitted(np.any(rows != 0, axis=2), x[d].size)
    if op is None:
        raise Unmapped("its constant matrix along a spatial axis is no window of the algebra")
    n_out = rows.shape[0]
    axis = x[d].through(op, n_out)
    out = {pos: a for pos, a in where.values()}
    out[position[other, o_free[0]]] = axis
    return Step([out], {axis.label: (op,)})


def fitted(nonzero: np.ndarray, n_in: int) -> Primitive | None:
    """The primitive whose reads are exactly the rows of ``nonzero`` (out units x in units),
    tried in turn: a bilinear resize, a window from the first two rows, a nearest upsampling."""
    n_out = nonzero.shape[0]
    seen = nonzero.any(axis=1)
    first = np.where(seen, nonzero.argmax(axis=1), 1)
    last = np.where(seen, n_in - 1 - nonzero[:, ::-1].argmax(axis=1), 0)
    if not np.array_equal(nonzero.sum(axis=1), np.maximum(last - first + 1, 0)):
        return None  # a row with holes: no window of the algebra
    candidates: list[Primitive] = [Resize(Fraction(n_in, n_out))]
    if n_out > 1 and seen[:2].all():
        s, k = int(first[1] - first[0]), int(last[0] - first[0] + 1)
        if s > 0:
            candidates.append(Window(k, s, -int(first[0])))
    if n_out > n_in and n_out % n_in == 0:
        candidates.append(Upsample(n_out // n_in, n_out // n_in))
    for op in candidates:
        lo, hi = op.reads(n_out, n_in)
        lo, hi = np.maximum(lo, 0), np.minimum(hi, n_in - 1)
        empty = lo > hi
        if np.array_equal(np.where(empty, 1, lo), first) and np.array_equal(
            np.where(empty, 0, hi), last
        ):
            return op
    return None


RULES: dict[str, Callable] = {
    "conv_general_dilated": conv,
    "reduce_window_max": reduce_window,
    "reduce_window_min": reduce_window,
    "reduce_window_sum": reduce_window,
    "reduce_window": reduce_window,
    "pad": pad,
    "slice": slice_,
    "dynamic_slice": dynamic_slice,
    "split": split,
    "dot_general": dot_general,
}
