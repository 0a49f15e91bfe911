"""The early layers of a net with a wide zero margin, computed only where the image reaches.

:func:`fcn_jax.geometry.margin.plan` names, per layer and axis, the window the image reaches,
the bands its canvas edges reach, and the constant between them. Here the same layers (same
weights, same kernels) run on three small things instead of the whole canvas:

- the *window*, padded with the constant to the cells it reads, with no padding of its own;
- the *margin*, on a small constant canvas (:func:`~fcn_jax.geometry.margin.small_canvas`)
  with the big one's bands: it depends on the weights only;
- and, where a later layer needs a whole canvas (a skip's tap, the first layer past the plan),
  the margin stretched to the canvas along its constant middle, the window written over it.

Every value equals the whole-canvas computation up to float rounding, and so do its gradients:
autodiff runs through the same three pieces.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import linen as nn

from fcn_jax.geometry import margin
from fcn_jax.models.layers import Conv, Dropout, MaxPool, ReLU, call


class Framed(NamedTuple):
    """A layer's output: the window, its rows and columns in the canvas, and the margin."""

    window: jax.Array  # (N, rows, cols, C)
    rows: margin.Span
    cols: margin.Span
    small: jax.Array  # (1, small rows, small cols, C): the margin, computed small

    def fill(self) -> jax.Array:
        """The margin's constant, (1, 1, 1, C)."""
        r, c = self.rows.band_lo, self.cols.band_lo
        return self.small[:, r : r + 1, c : c + 1]

    def whole(self) -> jax.Array:
        """The whole canvas: the margin stretched, the window written over it."""
        canvas = stretched(stretched(self.small, self.rows, 1), self.cols, 2)
        canvas = jnp.broadcast_to(canvas, (self.window.shape[0], *canvas.shape[1:]))
        r, c = self.rows, self.cols
        return canvas.at[:, r.lo : r.hi, c.lo : c.hi].set(self.window)


def stretched(small: jax.Array, span: margin.Span, axis: int) -> jax.Array:
    """``small`` along ``axis`` grown to ``span.size`` by repeating its first constant cell."""
    lo, hi = span.band_lo, span.band_hi
    n = small.shape[axis]
    middle = jax.lax.slice_in_dim(small, lo, lo + 1, axis=axis)
    shape = list(small.shape)
    shape[axis] = span.size - lo - hi
    parts = [
        jax.lax.slice_in_dim(small, 0, lo, axis=axis),
        jnp.broadcast_to(middle, shape),
        jax.lax.slice_in_dim(small, n - hi, n, axis=axis),
    ]
    return jnp.concatenate(parts, axis=axis)


def spatial_op(layer: nn.Module, train: bool):
    """``(window, zero padding)`` of a layer the margin passes through unchanged in kind; None
    (the grid kept) for a pointwise one; False where the plan must stop."""
    if isinstance(layer, Conv):
        return layer.op, True
    if type(layer) is MaxPool and layer.pad == 0:
        return layer.op, False
    if isinstance(layer, ReLU) or (isinstance(layer, Dropout) and not train):
        return None
    return False


class Plan(NamedTuple):
    layers: tuple[nn.Module, ...]
    rows: list[margin.Step]  # one per spatial layer
    cols: list[margin.Step]
    small: tuple[int, int]  # the small canvas of the first layer


def planned(layers, height: int, width: int, train: bool) -> Plan | None:
    """The leading ``layers`` worth running framed on an image of ``height`` x ``width``."""
    prefix, ops = [], []
    for layer in layers:
        op = spatial_op(layer, train)
        if op is False:
            break
        prefix.append(layer)
        if op is not None:
            ops.append(op)
    if not ops or not isinstance(prefix[0], Conv):
        return None
    rows, cols = margin.plan(height, ops), margin.plan(width, ops)
    for n in range(min(len(rows), len(cols)), 0, -1):
        small = (margin.small_canvas(rows[:n], ops), margin.small_canvas(cols[:n], ops))
        if None not in small:
            break
    else:
        return None
    spatial = [i for i, layer in enumerate(prefix) if spatial_op(layer, train) is not None]
    end = spatial[n] if n < len(spatial) else len(prefix)  # pointwise layers after the last
    return Plan(tuple(prefix[:end]), rows[:n], cols[:n], small)


def padded(x: jax.Array, rows: tuple[int, int], cols: tuple[int, int], value) -> jax.Array:
    """``x`` with ``rows`` (before, after) and ``cols`` cells of ``value`` (1, 1, 1, C) added."""
    n, h, w, c = x.shape
    above, below = (jnp.broadcast_to(value, (n, k, w, c)) for k in rows)
    x = jnp.concatenate([above, x, below], axis=1)
    left, right = (jnp.broadcast_to(value, (n, h + sum(rows), k, c)) for k in cols)
    return jnp.concatenate([left, x, right], axis=2)


def first(layer: Conv, x: jax.Array, rows: margin.Step, cols: margin.Step, small, kernels):
    """The first convolution: its window from the image padded with zeros, its margin the
    response to zeros alone."""
    zero = jnp.zeros((1, 1, 1, x.shape[-1]), x.dtype)
    window = layer(padded(x, *extension(rows, cols, x.shape[1:3]), zero), False, kernels, pad=0)
    extent = layer.op.extent
    fill = layer(jnp.zeros((1, extent, extent, x.shape[-1]), x.dtype), False, kernels, pad=0)
    return Framed(window, rows.out, cols.out, jnp.broadcast_to(fill, (1, *small, fill.shape[-1])))


def extension(rows: margin.Step, cols: margin.Step, have: tuple[int, int]):
    """The cells to add before and after the window (of ``have`` cells) on each axis."""
    return tuple((0 - s.reads[0], s.reads[1] - n) for s, n in zip((rows, cols), have, strict=True))


def through(layer, h: Framed, rows: margin.Step, cols: margin.Step, train, kernels) -> Framed:
    """A later spatial layer on a framed value."""
    before = ((h.rows.lo - rows.reads[0], rows.reads[1] - h.rows.hi),
              (h.cols.lo - cols.reads[0], cols.reads[1] - h.cols.hi))  # fmt: skip
    x = padded(h.window, *before, h.fill())
    window = layer(x, train, kernels, pad=0) if isinstance(layer, Conv) else layer(x, train)
    return Framed(window, rows.out, cols.out, call(layer, h.small, train, kernels))


def pointwise(layer, h: Framed, train: bool) -> Framed:
    return h._replace(window=layer(h.window, train), small=layer(h.small, train))


def run(plan: Plan, x: jax.Array, train: bool, kernels: str):
    """Each layer of ``plan`` on the images ``x``, as ``(layer, Framed)``."""
    steps = iter(zip(plan.rows, plan.cols, strict=True))
    h = None
    for layer in plan.layers:
        if spatial_op(layer, train) is None:
            h = pointwise(layer, h, train)
        elif h is None:
            h = first(layer, x, *next(steps), plan.small, kernels)
        else:
            h = through(layer, h, *next(steps), train, kernels)
        yield layer, h
