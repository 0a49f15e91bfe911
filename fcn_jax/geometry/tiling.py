"""Tiles whose scores are the whole image's: origins on the stride grid, halos from the supports.

A net of Windows, Upsamples and Shifts (every FCN here) is equivariant under a shift of its
input by a multiple of its stride grid ``S``, the lcm of the numerators of every layer's jump:
32 for the VGG and AlexNet FCNs. Run on the input window ``[a, b)`` of an image with ``S | a``,
its unit ``u`` of a layer of jump ``s`` is the whole image's unit ``u + a/s`` of that layer,
computed from the same reads, the crops taking the same offsets (they come from the coordinate
maps, which do not depend on the size). Near a window edge that is the image's own edge the two
also read the same padding, and the far edge rounds the same way (``S`` is a multiple of every
stride); near an edge inside the image they differ.

So with ``before`` and ``after`` the most input pixels an output pixel ``y`` reaches on either
side (its exact support ``[y - before, y + after]`` at most, from the algebra's supports, which
repeat with period ``S`` away from the borders), output ``y`` of the window ``[a, b)`` is the
whole image's wherever

    (a == 0 or y - before >= a) and (b == n or y + after < b).

A unit such a ``y`` depends on that reads the window's artificial padding, or a unit the window
does not compute, stands for a whole-image unit whose support reaches outside ``[a, b)``: every
layer pads by ``p >= 0``, and the deconvolutions have ``k >= s + p``, so a unit before (after)
a layer's first (last) unit reaches further out than it. (The tests check the equality against
the whole-image forward pass.)

Tiles of ``tile`` pixels then step by ``step = S * floor((tile - before - after) / S)``: tile
``k`` reads ``[k step, k step + tile)`` (the last up to the image's end, so up to one more
length per axis) and keeps ``[k step + before, (k + 1) step + before)``, the first from 0 and
the last to the end. The smallest tile is ``S + before + after``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

import numpy as np


class TileError(ValueError):
    """A tile size the geometry does not allow."""


def stride_grid(jumps: Iterable[Fraction]) -> int:
    """``S``: the smallest shift of the input that moves every layer by whole units."""
    return math.lcm(*(Fraction(j).numerator for j in jumps))


class Halo(NamedTuple):
    """One axis: the stride grid and the pixels an output reaches before and after itself."""

    stride: int
    before: int
    after: int

    @property
    def minimum(self) -> int:
        """The smallest tile: one step of ``stride`` between two halos."""
        return self.stride + self.before + self.after


def halo_of(support: tuple[np.ndarray, np.ndarray], stride: int) -> Halo | None:
    """The halo from the output supports ``(first, last)`` along an axis (output unit ``y`` at
    input pixel ``y``), read on the period of ``stride`` units in the middle; None when a
    support there touches the border (the size is too small to show it whole)."""
    first, last = support
    n = len(first)
    middle = (n // 2) // stride * stride
    units = np.arange(middle, middle + stride)
    if middle + stride > n or first[units].min() <= 0 or last[units].max() >= n - 1:
        return None
    return Halo(stride, int((units - first[units]).max()), int((last[units] - units).max()))


class Span(NamedTuple):
    """One tile along an axis: it reads ``[start, stop)`` and keeps ``[keep, keep_stop)``."""

    start: int
    stop: int
    keep: int
    keep_stop: int


def check_tile(tile: int, halos: Iterable[Halo]) -> None:
    """A one-line error naming the smallest tile when ``tile`` is below it."""
    widest = max(halos, key=lambda h: h.minimum)
    if tile < widest.minimum:
        raise TileError(
            f"tile {tile} is below this net's smallest tile of {widest.minimum} pixels (its "
            f"stride {widest.stride} plus halos of {widest.before} and {widest.after})"
        )


def spans(n: int, tile: int, halo: Halo) -> list[Span]:
    """The tiles covering ``n`` pixels, in order; their kept ranges partition ``[0, n)``."""
    check_tile(tile, [halo])
    if n <= tile:
        return [Span(0, n, 0, n)]
    step = (tile - halo.before - halo.after) // halo.stride * halo.stride
    starts = [0]
    while starts[-1] + tile < n:
        starts.append(starts[-1] + step)
    keeps = [0] + [a + halo.before for a in starts[1:]] + [n]
    return [Span(a, min(a + tile, n), keeps[k], keeps[k + 1]) for k, a in enumerate(starts)]
