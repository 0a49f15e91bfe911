"""Pictures: the measured footprint of an output unit over the box the geometry predicts."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def footprint_image(
    mask: np.ndarray,
    predicted: tuple[tuple[int, int], tuple[int, int]] | None,
    title: str = "",
    scale: int = 1,
) -> Image.Image:
    """RGB picture: the input frame in dark grey, measured support in light blue, the
    predicted box outlined in red (inclusive pixel bounds)."""
    height, width = mask.shape
    pixels = np.full((height, width, 3), 40, np.uint8)
    pixels[mask] = (120, 190, 255)
    image = Image.fromarray(pixels).resize((width * scale, height * scale), Image.NEAREST)
    margin = 24
    canvas = Image.new("RGB", (image.width + 2 * margin, image.height + 2 * margin), "white")
    canvas.paste(image, (margin, margin))
    draw = ImageDraw.Draw(canvas)
    if predicted is not None:
        (top, bottom), (left, right) = predicted
        draw.rectangle(
            (
                margin + left * scale,
                margin + top * scale,
                margin + (right + 1) * scale - 1,
                margin + (bottom + 1) * scale - 1,
            ),
            outline=(230, 30, 30),
            width=2,
        )
    draw.text((margin, 4), title, fill="black")
    draw.text(
        (margin, canvas.height - margin + 4),
        "blue: measured support (autodiff)   red: predicted box",
        fill="black",
    )
    return canvas
