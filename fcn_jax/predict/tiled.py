"""Scores of an image of any size, a tile at a time, equal to the whole image's.

The tiles' origins, halos and crops come from the geometry (:mod:`fcn_jax.geometry.tiling`:
origins on the net's stride grid ``S``, each tile reading ``before`` and ``after`` pixels beyond
what it keeps, the most any output pixel's support reaches), so every kept score is computed
from the same inputs, the same padding and the same grid as in the whole image. Only one
tile's activations are alive at a time; what is kept of each goes to a numpy array on the host.
Tiles of one size share a compilation: the interior ones, and per axis the last one, which ends
at the image's edge (an edge tile cannot be padded up to the tile size: the padding would be
read where the whole image reads the net's own border padding), so an image takes at most four.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from fcn_jax.geometry import CoordMap
from fcn_jax.geometry.tiling import Halo, Span, check_tile, halo_of, spans, stride_grid
from fcn_jax.models import FCN, DilatedFCN, trace_layers
from fcn_jax.models.layers import Crop


class TileGeometry(NamedTuple):
    """A net's halos along the rows and the columns."""

    rows: Halo
    cols: Halo

    @property
    def minimum(self) -> int:
        return max(self.rows.minimum, self.cols.minimum)

    def check(self, tile: int) -> None:
        check_tile(tile, self)


def tile_geometry(model) -> TileGeometry:
    """The stride grid and halos of an FCN, from the traces of one abstract forward pass at a
    size large enough that a period of output units in its middle has its supports whole.

    Refused (a one-line ``ValueError``) for nets whose scores are not a shifted copy of the
    whole image's on a tile: a dilated ResNet's final bilinear resize samples at the ratio of
    the image size to its feature map's, a convolutionalized classifier's scores are coarse."""
    if not isinstance(model, FCN):
        why = ("its final bilinear resize samples at the ratio of the whole image's size to "
               "its feature map's" if isinstance(model, DilatedFCN)
               else "its coarse class scores are not the image's pixels")  # fmt: skip
        raise ValueError(f"this net cannot be predicted in tiles exactly ({why}): predict it "
                         "without --tile")  # fmt: skip
    size = 256
    while True:
        found = trace_layers(model, size, size)
        stride = stride_grid(t.trace.field.s for t in found)
        outputs = [t.trace for t in found if isinstance(t.layer, Crop) and t.layer.like == "data"]
        assert outputs and all(t.map == CoordMap() for t in outputs), "outputs at the pixels"
        rows = [halo_of(t.rows, stride) for t in outputs]
        cols = [halo_of(t.cols, stride) for t in outputs]
        if None not in rows + cols:
            return TileGeometry(widest(rows), widest(cols))
        if size > 1 << 14:  # no net here has supports this wide
            raise ValueError(f"this net's output supports do not fit in {size} pixels")
        size *= 2


def widest(halos: list[Halo]) -> Halo:
    """One halo covering several heads' outputs."""
    return Halo(halos[0].stride, max(h.before for h in halos), max(h.after for h in halos))


Forward = Callable[[dict, np.ndarray], object]  # (variables, (1, h, w, C) input) -> (1, h, w, K)


def tiled_map(
    forward: Forward,
    variables: dict,
    x: np.ndarray,
    tile: int,
    geometry: TileGeometry,
    each: Callable[[np.ndarray], tuple[np.ndarray, ...]] = lambda scores: (scores,),
) -> tuple[np.ndarray, ...]:
    """``each`` of the scores of ``x`` (H, W, C), computed ``tile`` x ``tile`` pixels at a time:
    ``each`` maps the kept (h, w, K) scores of a tile to arrays (h, w, ...) (its argmax, say,
    so that only labels are kept), and the result is those arrays over the whole image."""
    geometry.check(tile)
    height, width = x.shape[:2]
    found: list[np.ndarray] = []
    for r in spans(height, tile, geometry.rows):
        for c in spans(width, tile, geometry.cols):
            scores = np.asarray(forward(variables, x[None, r.start : r.stop, c.start : c.stop]))
            parts = each(scores[0, kept(r), kept(c)])
            if not found:
                found = [np.empty((height, width, *p.shape[2:]), p.dtype) for p in parts]
            for whole, part in zip(found, parts, strict=True):
                whole[r.keep : r.keep_stop, c.keep : c.keep_stop] = part
    return tuple(found)


def kept(span: Span) -> slice:
    """What a tile keeps, in its own coordinates."""
    return slice(span.keep - span.start, span.keep_stop - span.start)


def tiled_scores(
    forward: Forward, variables: dict, x: np.ndarray, tile: int, geometry: TileGeometry
) -> np.ndarray:
    """The (H, W, K) scores of ``x`` (H, W, C), ``tile`` x ``tile`` pixels at a time: to
    float round-off the whole image's, ``forward(variables, x[None])[0]``."""
    return tiled_map(forward, variables, x, tile, geometry)[0]
