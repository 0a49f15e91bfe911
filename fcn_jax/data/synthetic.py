"""The built-in synthetic segmentation dataset: scenes that need fine strides to segment.

Every image is a pure function of (seed, split, index): random access, deterministic, no files.
Sizes vary per image. Classes (0 is background, a textured noise field):

1. ``blob``     -- one or two large ellipses (tens of pixels): easy even at stride 32;
2. ``disc``     -- many small discs of radius 2-5: smaller than a stride-32 cell;
3. ``line``     -- thin straight lines, 1-2 pixels wide: need stride 8 to place;
4. ``stripes``  -- rectangles filled with a stripe texture in background-like colours;
5. ``triangle`` -- medium triangles with sharp corners.

Images are RGB uint8, labels uint8 (H, W); no void pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("background", "blob", "disc", "line", "stripes", "triangle")
SPLIT_SEEDS = {"train": 0, "val": 1}
# Mean RGB colour of the generated images, subtracted as the reference does for its datasets
# (tests/test_synthetic.py measures it).
MEAN_RGB = (130.0, 111.0, 105.0)


@dataclass(frozen=True)
class SyntheticScenes:
    """``len`` and ``[i]`` like a random-access data source; ``[i]`` is {'image', 'label'}."""

    split: str = "train"
    num_images: int = 2000
    seed: int = 0
    sizes: tuple[int, ...] = (96, 112, 128)

    def __post_init__(self):
        if self.split not in SPLIT_SEEDS:
            raise ValueError(f"split must be one of {tuple(SPLIT_SEEDS)}, got {self.split!r}")

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} images")
        rng = np.random.default_rng((self.seed, SPLIT_SEEDS[self.split], index))
        return scene(rng, int(rng.choice(self.sizes)), int(rng.choice(self.sizes)))


def _colour(rng, base, spread=40):
    return np.clip(np.asarray(base) + rng.integers(-spread, spread + 1, 3), 0, 255)


def scene(rng: np.random.Generator, height: int, width: int) -> dict[str, np.ndarray]:
    """One random scene of the given size."""
    yy, xx = np.mgrid[:height, :width]
    image = rng.normal(0, 18, (height, width, 3)) + _colour(rng, (120, 118, 112), 30)
    label = np.zeros((height, width), np.uint8)

    def paint(mask, cls, colour, noise=10):
        image[mask] = colour + rng.normal(0, noise, (int(mask.sum()), 3))
        label[mask] = cls

    # 4: stripes -- background-like colours, told apart only by texture
    for _ in range(rng.integers(0, 3)):
        h, w = rng.integers(16, 40, 2)
        top, left = rng.integers(0, height - h), rng.integers(0, width - w)
        mask = np.zeros_like(label, bool)
        mask[top : top + h, left : left + w] = True
        period = rng.integers(3, 6)
        phase = (xx + yy) if rng.random() < 0.5 else (xx - yy)
        light = (phase // period) % 2 == 0
        base = _colour(rng, (120, 118, 112), 20)
        paint(mask & light, 4, np.clip(base + 45, 0, 255))
        paint(mask & ~light, 4, np.clip(base - 45, 0, 255))
    # 1: blobs
    for _ in range(rng.integers(1, 3)):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        ry, rx = rng.integers(12, 30, 2)
        paint(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1, 1, _colour(rng, (200, 60, 60)))
    # 5: triangles
    for _ in range(rng.integers(0, 3)):
        pts = rng.integers(0, [height, width], (3, 2)).astype(float)
        centre = pts.mean(axis=0)
        pts = centre + (pts - centre) * (14 / max(np.ptp(pts, axis=0).max(), 1)) * rng.uniform(1, 2)
        paint(_inside_triangle(yy, xx, pts), 5, _colour(rng, (60, 170, 70)))
    # 3: thin lines
    for _ in range(rng.integers(1, 4)):
        (y0, x0), (y1, x1) = rng.integers(0, [height, width], (2, 2))
        dy, dx = y1 - y0, x1 - x0
        length = max(np.hypot(dy, dx), 1.0)
        dist = np.abs(dy * (xx - x0) - dx * (yy - y0)) / length
        t = ((yy - y0) * dy + (xx - x0) * dx) / length**2
        paint(
            (dist <= rng.uniform(0.5, 1.2)) & (t >= 0) & (t <= 1), 3, _colour(rng, (240, 230, 60))
        )
    # 2: small discs
    for _ in range(rng.integers(3, 10)):
        cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.uniform(2, 5)
        paint((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, 2, _colour(rng, (60, 80, 210)))
    return {"image": np.clip(image, 0, 255).astype(np.uint8), "label": label}


def _inside_triangle(yy, xx, pts):
    def side(a, b):
        return (xx - b[1]) * (a[0] - b[0]) - (a[1] - b[1]) * (yy - b[0])

    d1, d2, d3 = side(pts[0], pts[1]), side(pts[1], pts[2]), side(pts[2], pts[0])
    neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
    pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
    return ~(neg & pos)
