"""Where a wide zero padding keeps the early layers constant, along one axis.

The reference FCNs pad ``conv1_1`` by 100 pixels: for a 500-pixel side, block 1 runs on 698
cells, and for 256 pixels on 454. A cell whose every input lies in that margin holds a
per-channel constant (``conv1_1``'s bias, then whatever the next layers make of a constant), so
only the cells the image reaches (the *window*) need a convolution. Two things bound this:

- the image's reach grows by each layer's extent, and
- every later layer pads its own canvas with zeros, so cells near the canvas *edges* are not
  the constant either (the *bands*); they depend on the weights only, never on the image.

:func:`plan` follows a chain of windows (convolutions pad with zeros; pools pad with -inf,
which a constant absorbs) and says, per layer, the canvas size, the window, the bands and the
input cells the window reads. It stops before the first layer whose window would read a band or
the padding. Everything is integer arithmetic on :class:`~fcn_jax.geometry.algebra.Window`.
"""

from __future__ import annotations

from typing import NamedTuple

from fcn_jax.geometry.algebra import Window


class Span(NamedTuple):
    """One axis of a layer's output canvas."""

    size: int  # canvas cells
    lo: int  # the window [lo, hi): the cells the image reaches
    hi: int
    band_lo: int  # cells reached by the padding at the canvas's start (and end)
    band_hi: int

    @property
    def constant(self) -> int:
        """Cells holding the margin's constant."""
        return self.size - (self.hi - self.lo) - self.band_lo - self.band_hi


class Step(NamedTuple):
    """One layer of the plan: its output along the axis, and the input cells its window reads
    (``reads[0]`` may be negative, and ``reads[1]`` past the canvas, only on the image)."""

    out: Span
    reads: tuple[int, int]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def bands(size_in: int, band_lo: int, band_hi: int, op: Window, zero_pad: bool):
    """The bands of the output canvas: cells reading a band of the input or, where the padding
    is zeros (a convolution), the padding."""
    size = op.out_size(size_in)
    s, p, k = op.s, op.p, op.extent
    lo = 0 if band_lo == 0 and not zero_pad else (band_lo - 1 + p) // s + 1
    first = cdiv(size_in - band_hi - k + 1 + p, s)  # the first output cell reading a band
    hi = 0 if band_hi == 0 and not zero_pad else size - max(first, 0)
    return size, min(max(lo, 0), size), min(max(hi, 0), size)


def step(span: Span, op: Window, zero_pad: bool, image: bool) -> Step | None:
    """``span`` through ``op``, or None where the window would read a band or the padding.
    On the ``image`` (no margin yet) the zero padding is the margin itself."""
    s, p, k = op.s, op.p, op.extent
    size = op.out_size(span.size)
    lo = max(0, cdiv(span.lo - k + 1 + p, s))
    hi = min(size, (span.hi - 1 + p) // s + 1)
    reads = (lo * s - p, (hi - 1) * s - p + k)
    if image:
        return Step(Span(size, lo, hi, 0, 0), reads) if zero_pad else None
    if reads[0] < span.band_lo or reads[1] > span.size - span.band_hi:
        return None
    _, band_lo, band_hi = bands(span.size, span.band_lo, span.band_hi, op, zero_pad)
    return Step(Span(size, lo, hi, band_lo, band_hi), reads)


def plan(n: int, ops: list[tuple[Window, bool]]) -> list[Step]:
    """The steps of the layers ``ops`` (each a window and whether it pads with zeros) on an
    ``n``-cell image, as far as the margin stays constant somewhere: possibly none."""
    steps: list[Step] = []
    span = Span(n, 0, n, 0, 0)
    for op, zero_pad in ops:
        if op.out_size(span.size) < 1:
            break
        nxt = step(span, op, zero_pad, image=not steps)
        if nxt is None or (not steps and nxt.out.constant == 0):
            break
        steps.append(nxt)
        span = nxt.out
    return steps


def small_canvas(steps: list[Step], ops: list[tuple[Window, bool]]) -> int | None:
    """The fewest cells of a constant first-layer canvas that, through the later layers, has
    the big canvas's bands and at least one constant cell at every layer: the margin computed
    small. Its size keeps the big one's phase on every stride. None if there is no such size
    smaller than the big canvas."""
    big = steps[0].out.size
    period = 1
    for op, _ in ops[1 : len(steps)]:
        period *= op.s
    for size in range(big % period or period, big, period):
        if fits(size, steps, ops):
            return size
    return None


def fits(size: int, steps: list[Step], ops: list[tuple[Window, bool]]) -> bool:
    band_lo = band_hi = 0
    for want, (op, zero_pad) in zip(steps[1:], ops[1 : len(steps)], strict=True):
        if op.out_size(size) < 1:
            return False
        size, band_lo, band_hi = bands(size, band_lo, band_hi, op, zero_pad)
        if (band_lo, band_hi) != (want.out.band_lo, want.out.band_hi):
            return False
        if size - band_lo - band_hi < 1:
            return False
    return True
