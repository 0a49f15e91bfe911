"""The paper's f_ks algebra and what is measured with it.

- ``algebra``: coordinate maps, windows, upsampling, shifts, traces and crop offsets (pure
  Python and numpy; re-exported here, so ``from fcn_jax.geometry import Trace`` works).
- ``footprint``: every unit's support in a Linen module, measured with ``jax.vjp``, against the
  box the algebra predicts.

The geometry table of one of our nets and its autodiff check are in :mod:`fcn_jax.models.report`.
"""

from fcn_jax.geometry.algebra import (
    CoordMap,
    Field,
    GeometryError,
    Resize,
    Shift,
    Trace,
    Upsample,
    Window,
    chain,
    crop_offset,
)

__all__ = [
    "CoordMap",
    "Field",
    "GeometryError",
    "Resize",
    "Shift",
    "Trace",
    "Upsample",
    "Window",
    "chain",
    "crop_offset",
]
