"""A matplotlib figure off screen (the Agg canvas, no pyplot state), and its bytes.

matplotlib is imported here, inside the functions, so that ``import fcn_jax`` (and every
``--help``) does not pay for it."""

from __future__ import annotations

import io
from pathlib import Path

DPI = 100


def new_figure(width: float, height: float, **options):
    """A ``Figure`` of ``width`` x ``height`` pixels on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, **options)
    FigureCanvasAgg(figure)
    return figure


def pixel_size(figure, artist) -> tuple[float, float]:
    """The (width, height) in pixels ``artist`` takes when ``figure`` is drawn."""
    box = artist.get_window_extent(figure.canvas.get_renderer())
    return box.width, box.height


def saved_formats() -> set[str]:
    """The file suffixes :func:`save` writes (``.png``, ``.pdf``, ``.svg``, ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return {f".{suffix}" for suffix in FigureCanvasAgg.get_supported_filetypes()}


def save(figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path``, in the format its suffix names."""
    figure.savefig(path, dpi=DPI, facecolor="white")
    return Path(path)


def png_bytes(figure) -> bytes:
    """``figure`` as PNG bytes (a TensorBoard image)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()
