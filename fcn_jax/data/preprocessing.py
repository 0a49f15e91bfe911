"""The input normalisation a set of weights expects, stored with them.

Caffe-trained weights (the authors' FCNs, the ILSVRC VGG16 and CaffeNet) take BGR images with a
mean subtracted; torchvision and timm ImageNet weights take RGB scaled to [0, 1] and normalised by
the ImageNet mean and std. Both are ``(image[channels] - mean) / std`` on 0..255 values, which is
what :class:`Normalisation` holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

ORDERS = ("bgr", "rgb")


class Normalisation(NamedTuple):
    """``(rgb - mean) / std`` on 0..255 values (mean and std given in RGB order), then the
    channels put in ``order``."""

    order: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) -> float32 (H, W, 3) as the weights expect."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
        scaled = (image.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        return scaled[..., ::-1] if self.order == "bgr" else scaled

    def describe(self) -> str:
        """One line a user can check against what the weights' authors used."""
        mean = ", ".join(f"{m:g}" for m in self.mean)
        text = f"{self.order.upper()} minus mean (R, G, B) = ({mean})"
        if self.std != (1.0, 1.0, 1.0):
            text += " divided by std (" + ", ".join(f"{s:g}" for s in self.std) + ")"
        return text

    def to_json(self) -> dict:
        return {"order": self.order, "mean": list(self.mean), "std": list(self.std)}


def from_json(value: Mapping, where: str) -> Normalisation:
    """A :class:`Normalisation` from its JSON form; errors name ``where`` and the field."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: preprocessing must be an object, got {value!r}")
    order = value.get("order")
    if order not in ORDERS:
        raise ValueError(f"{where}: preprocessing.order must be one of {ORDERS}, got {order!r}")
    fields = {}
    for field, default in (("mean", None), ("std", (1.0, 1.0, 1.0))):
        numbers = value.get(field, default)
        try:
            numbers = tuple(float(n) for n in numbers)
        except (TypeError, ValueError):
            numbers = ()
        if len(numbers) != 3 or (field == "std" and min(numbers) <= 0):
            raise ValueError(
                f"{where}: preprocessing.{field} must be 3 numbers"
                f"{' > 0' if field == 'std' else ''}, got {value.get(field)!r}"
            )
        fields[field] = numbers
    return Normalisation(order, fields["mean"], fields["std"])


# The ILSVRC 2012 mean the reference FCNs subtract (BGR 104.00699, 116.66877, 122.67892).
CAFFE_ILSVRC = Normalisation("bgr", (122.67891434, 116.66876762, 104.00698793))
# torchvision/timm ImageNet: x / 255 - (0.485, 0.456, 0.406), / (0.229, 0.224, 0.225).
TORCHVISION = Normalisation("rgb", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def caffe(mean_rgb) -> Normalisation:
    """The reference preprocessing with a dataset's own mean."""
    return Normalisation("bgr", tuple(float(m) for m in mean_rgb))


# The NYUDv2 means of the reference's nyud_layers.py (BGR 116.190, 97.203, 92.318 for colour;
# HHA, read as an image, 132.431, 94.076, 118.477 in the same order; log depth 7.844), which its
# released NYUD nets were trained with.
NYUD_COLOR = Normalisation("bgr", (92.318, 97.203, 116.190))
NYUD_HHA = Normalisation("bgr", (118.477, 94.076, 132.431))
NYUD_LOG_DEPTH = 7.844
