"""Pictures. Label colours and label PNGs (PIL, numpy: data, one byte per pixel); figures drawn
with matplotlib, imported only when one is drawn (``import fcn_jax`` stays fast): predict's
overlays and heatmaps, the sample tiles of validation, the learning curve and the geometry
footprint. Each figure function returns a matplotlib ``Figure``; :func:`save` and
:func:`png_bytes` write it. Nothing here imports the rest of the package."""

from fcn_jax.viz.colours import VOID, class_name, colorize, label_png, palette, present
from fcn_jax.viz.curves import learning_curve, learning_series
from fcn_jax.viz.figure import png_bytes, save, saved_formats
from fcn_jax.viz.footprint import footprint_figure
from fcn_jax.viz.heat import heat_colours, heatmap, heatmap_figure
from fcn_jax.viz.overlay import overlay, overlay_figure
from fcn_jax.viz.tiles import tile

__all__ = [
    "VOID",
    "class_name",
    "colorize",
    "footprint_figure",
    "heat_colours",
    "heatmap",
    "heatmap_figure",
    "label_png",
    "learning_curve",
    "learning_series",
    "overlay",
    "overlay_figure",
    "palette",
    "png_bytes",
    "present",
    "save",
    "saved_formats",
    "tile",
]
