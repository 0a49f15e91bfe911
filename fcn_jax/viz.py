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


def palette(num_colours: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: (num_colours, 3) uint8; class 0 black, 255 (void) cream."""
    colours = np.zeros((num_colours, 3), np.uint8)
    for index in range(num_colours):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[index] = (r, g, b)
    return colours


def colorize(label: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 palette colours."""
    return palette()[np.asarray(label, np.uint8)]


def label_png(label: np.ndarray) -> Image.Image:
    """A palette ('P' mode) PNG of class indices, as VOC stores its masks."""
    image = Image.fromarray(np.asarray(label, np.uint8), mode="P")
    image.putpalette(palette().ravel().tolist())
    return image


def overlay(image_rgb: np.ndarray, label: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with the coloured labels blended over it (background left clear)."""
    colours = colorize(label).astype(np.float32)
    blend = image_rgb.astype(np.float32) * (1 - alpha) + colours * alpha
    return np.where((np.asarray(label) > 0)[..., None], blend, image_rgb).astype(np.uint8)


def tile(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], gap: int = 4) -> Image.Image:
    """One row per sample: image | ground truth | prediction (palette colours)."""
    height = sum(img.shape[0] for img, _, _ in rows) + gap * (len(rows) - 1)
    width = max(img.shape[1] for img, _, _ in rows) * 3 + gap * 2
    canvas = np.full((height, width, 3), 255, np.uint8)
    top = 0
    for image, truth, predicted in rows:
        h, w = image.shape[:2]
        for k, part in enumerate((image, colorize(truth), colorize(predicted))):
            canvas[top : top + h, k * (w + gap) : k * (w + gap) + w] = part
        top += h + gap
    return Image.fromarray(canvas)


def learning_curve(series: dict[str, list[tuple[int, float]]], size=(720, 420)) -> Image.Image:
    """Line plot of named (step, value) series, each scaled to its own range (shown in the
    legend), on a shared step axis."""
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 50, 20, size[0] - 20, size[1] - 60
    draw.rectangle((left, top, right, bottom), outline="black")
    points = [p for values in series.values() for p in values]
    if not points:
        return image
    last = max(max(step for step, _ in points), 1)
    for k in range(5):
        x = left + (right - left) * k / 4
        draw.text((x - 10, bottom + 4), str(round(last * k / 4)), fill="black")
    draw.text(((left + right) // 2 - 10, bottom + 18), "step", fill="black")
    for n, (name, values) in enumerate(series.items()):
        if not values:
            continue
        lo, hi = min(v for _, v in values), max(v for _, v in values)
        span = hi - lo or 1.0
        xy = [
            (left + (right - left) * s / last, bottom - (bottom - top) * (v - lo) / span)
            for s, v in values
        ]
        colour = colours[n % len(colours)]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy[-1:]:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
        legend = f"{name}: {values[-1][1]:.4g} (range {lo:.3g}..{hi:.3g})"
        draw.text((left + 10 + 350 * (n % 2), bottom + 32 + 12 * (n // 2)), legend, fill=colour)
    return image


# (position, RGB) anchors of the heat colour ramp: black, purple, red, orange, pale yellow.
HEAT = ((0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)),
        (0.75, (249, 142, 9)), (1.0, (252, 255, 164)))  # fmt: skip


def heatmap(image_rgb: np.ndarray, score: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """A class score map in [0, 1] (any resolution: a classifier's is coarse) stretched to the
    image bilinearly, coloured black (0) to pale yellow (1) and blended over the image."""
    height, width = image_rgb.shape[:2]
    score = np.clip(np.asarray(score, np.float32), 0, 1)
    stretched = np.asarray(Image.fromarray(score).resize((width, height), Image.BILINEAR))
    stops = np.array([p for p, _ in HEAT])
    colours = np.stack(
        [np.interp(stretched, stops, [c[i] for _, c in HEAT]) for i in range(3)], axis=-1
    )
    blend = image_rgb.astype(np.float32) * (1 - alpha) + colours * alpha
    return blend.clip(0, 255).astype(np.uint8)
