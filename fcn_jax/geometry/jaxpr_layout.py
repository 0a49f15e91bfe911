"""The layout primitives: where the spatial axes of a value go through a transpose, a
broadcast, a squeeze, a reshape or a reduction (the states and :class:`Step` of
:mod:`fcn_jax.geometry.jaxpr_rules`).

A reshape keeps a spatial axis when the axis stays a dimension of its own, and it is a
primitive of the algebra when the axis is split into (coarse units, a minor dimension of ``r``)
(space-to-depth: ``Window(r, r)``) or merged as the major part with a minor dimension of
``r`` (depth-to-space, nearest upsampling by broadcast: ``Upsample(r, r)``). A reshape that
merges two spatial axes, or a spatial axis under a major one, is a flatten: the analysis of
that value ends there.
"""

from __future__ import annotations

import math

from fcn_jax.geometry.algebra import Upsample, Window
from fcn_jax.geometry.jaxpr_rules import Ended, Step, Unmapped


def transpose(eqn, ins, scope) -> Step:
    perm = eqn.params["permutation"]
    return Step([{i: ins[0][d] for i, d in enumerate(perm) if d in ins[0]}])


def broadcast_in_dim(eqn, ins, scope) -> Step:
    shape, where = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    for d, axis in ins[0].items():
        if shape[where[d]] != axis.size:
            return Step([Ended(f"a broadcast of spatial axis {axis.label} from size 1")])
    return Step([{where[d]: axis for d, axis in ins[0].items()}])


def squeeze(eqn, ins, scope) -> Step:
    gone = eqn.params["dimensions"]
    if any(d in gone for d in ins[0]):
        return Step([Ended("a squeeze of a spatial axis")])
    return Step([{d - sum(g < d for g in gone): axis for d, axis in ins[0].items()}])


def reduction(eqn, ins, scope) -> Step:
    axes = eqn.params["axes"]
    pooled = sorted(ins[0][d].label for d in ins[0] if d in axes)
    if pooled:
        return Step([Ended(f"{eqn.primitive.name} over spatial axes {pooled} (global "
                           "pooling: every unit of the result sees the whole input)")] *
                    len(eqn.outvars))  # fmt: skip
    out = {d - sum(a < d for a in axes): axis for d, axis in ins[0].items()}
    return Step([out] * len(eqn.outvars))


def along_one_axis(eqn, ins, scope) -> Step:
    """cumsum, sort, ...: fine along a channel axis, no window along a spatial one."""
    axis = eqn.params.get("axis", eqn.params.get("dimension"))
    if axis in ins[0]:
        raise Unmapped(f"it runs along spatial axis {ins[0][axis].label}")
    return Step([ins[0]] * len(eqn.outvars))


def rev(eqn, ins, scope) -> Step:
    flipped = [d for d in eqn.params["dimensions"] if d in ins[0]]
    if flipped:
        raise Unmapped("it reverses a spatial axis (a negative stride)")
    return Step([ins[0]])


def groups(old: tuple[int, ...], new: tuple[int, ...]) -> list[tuple[list[int], list[int]]]:
    """Consecutive dimensions of ``old`` and ``new`` with equal products (size-1 dimensions
    join the group before them)."""
    out, i, j = [], 0, 0
    while i < len(old) or j < len(new):
        a, b, pa, pb = [], [], 1, 1
        if i < len(old):
            a, pa, i = [i], old[i], i + 1
        if j < len(new):
            b, pb, j = [j], new[j], j + 1
        while True:
            if pa == pb and i < len(old) and old[i] == 1:
                a, i = [*a, i], i + 1
            elif pa == pb and j < len(new) and new[j] == 1:
                b, j = [*b, j], j + 1
            elif pa < pb and i < len(old):
                a, pa, i = [*a, i], pa * old[i], i + 1
            elif pa > pb and j < len(new):
                b, pb, j = [*b, j], pb * new[j], j + 1
            else:
                break
        out.append((a, b))
    return out


def reshape(eqn, ins, scope) -> Step:
    if eqn.params.get("dimensions"):
        raise Unmapped("a reshape with a dimension order")
    old, new = eqn.invars[0].aval.shape, tuple(eqn.params["new_sizes"])
    out, ops = {}, {}
    for a, b in groups(old, new):
        spatial = [d for d in a if d in ins[0]]
        if not spatial:
            continue
        if len(spatial) > 1:
            return Step([Ended("a reshape merges spatial axes (a flatten)")])
        d, axis = spatial[0], ins[0][spatial[0]]
        big_a = [e for e in a if old[e] > 1]
        big_b = [e for e in b if new[e] > 1]
        if big_a and big_a[0] != d:
            return Step([Ended(f"a reshape merges spatial axis {axis.label} under another")])
        minor_in = math.prod(old[e] for e in a if e > d)
        major = big_b[0] if big_b else b[0]
        minor_out = math.prod(new[e] for e in b if e > major)
        if minor_out == minor_in:
            out[major] = axis
        elif minor_out % minor_in == 0:  # split off the minor part: space-to-depth
            r = minor_out // minor_in
            ops[axis.label] = (Window(r, r),)
            out[major] = axis.through(Window(r, r), new[major])
        elif minor_in % minor_out == 0:  # merged with a minor part: depth-to-space
            r = minor_in // minor_out
            ops[axis.label] = (Upsample(r, r),)
            out[major] = axis.through(Upsample(r, r), new[major])
        else:
            return Step([Ended(f"a reshape of spatial axis {axis.label} into {new}")])
    return Step([out], ops)


LAYOUT = {
    "transpose": transpose,
    "broadcast_in_dim": broadcast_in_dim,
    "squeeze": squeeze,
    "reshape": reshape,
    "rev": rev,
    **dict.fromkeys(
        (
            "reduce_sum",
            "reduce_max",
            "reduce_min",
            "reduce_prod",
            "reduce_and",
            "reduce_or",
            "reduce_xor",
            "argmax",
            "argmin",
        ),
        reduction,
    ),
    **dict.fromkeys(
        ("cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "sort"), along_one_axis
    ),
}
