"""The paper's f_ks algebra and what is measured with it.

- ``algebra``: coordinate maps, windows, upsampling, shifts, traces and crop offsets (pure
  Python and numpy; re-exported here, so ``from fcn_jax.geometry import Trace`` works).
- ``footprint``: every unit's support in a Linen module, measured with ``jax.vjp``, against the
  box the algebra predicts.

- ``jaxpr``: ``analyze(fn, *args, spatial_axes=...)``, the same algebra read off the jaxpr of
  any JAX function (``jaxpr_rules``, ``jaxpr_layout``: each primitive's rule;
  ``jaxpr_report``: its table; ``jaxpr_footprint``: its autodiff check). Imported on first
  use of ``analyze``, so ``import fcn_jax.geometry`` stays free of JAX.

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


def __getattr__(name: str):
    if name == "analyze":
        from fcn_jax.geometry.jaxpr import analyze

        return analyze
    raise AttributeError(f"module 'fcn_jax.geometry' has no attribute {name!r}")


__all__ = [
    "CoordMap",
    "Field",
    "GeometryError",
    "Resize",
    "Shift",
    "Trace",
    "Upsample",
    "Window",
    "analyze",
    "chain",
    "crop_offset",
]
