"""Examples stored as the original encoded files: JPEG/PNG bytes in, decoded arrays out (and
label maps that come in another form, encoded as PNGs to be stored).

The TFDS builders keep each image's original bytes (no re-encoding, no TensorFlow needed to
write or read them) and decode with Pillow when read. Every example is decoded and checked once
before anything is written.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from fcn_jax.data.labels import VOID


class BadExample(ValueError):
    """An example of a dataset being prepared is unusable; the message names the file."""


def features(extra_labels: tuple[str, ...] = ()) -> tfds.features.FeaturesDict:
    """id, image bytes, label PNG bytes, and a PNG per extra label map (e.g. 'geo_label')."""
    encoded = {f"{name}_bytes": tfds.features.Tensor(shape=(), dtype=np.object_)
               for name in ("image", "label", *extra_labels)}  # fmt: skip
    return tfds.features.FeaturesDict({"id": tfds.features.Text(), **encoded})


def decode_image(data: bytes, where: str = "image") -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode != "RGB":
                raise BadExample(f"{where}: image mode is {image.mode}, expected RGB")
            return np.asarray(image)
    except (OSError, SyntaxError) as err:
        raise BadExample(f"{where}: cannot decode image ({err})") from err


def decode_any(data: bytes, where: str) -> np.ndarray:
    """An image in whatever mode it was stored (e.g. 16-bit depth)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return np.asarray(image)
    except (OSError, SyntaxError) as err:
        raise BadExample(f"{where}: cannot decode ({err})") from err


def decode_label(data: bytes, where: str = "label") -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as mask:
            mask.load()
            if mask.mode not in ("P", "L"):
                raise BadExample(f"{where}: mask mode is {mask.mode}, expected P or L")
            return np.asarray(mask)
    except (OSError, SyntaxError) as err:
        raise BadExample(f"{where}: cannot decode mask ({err})") from err


def png_bytes(labels: np.ndarray, where: str) -> bytes:
    """A label map (H, W) as the bytes of a single-channel PNG, for a dataset whose labels come
    in another form (e.g. MATLAB files)."""
    if labels.min() < 0 or labels.max() > 255:
        raise BadExample(f"{where}: label values outside 0..255")
    buffer = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8), mode="L").save(buffer, "PNG")
    return buffer.getvalue()


def checked_example(
    example_id: str, image_path: Path, label_bytes: bytes, label_where: str, num_classes: int
) -> dict:
    """The example to write, after decoding both files and checking sizes and labels."""
    try:
        image_bytes = image_path.read_bytes()
    except OSError as err:
        raise BadExample(f"{image_path}: cannot read ({err})") from err
    image = decode_image(image_bytes, str(image_path))
    label = decode_label(label_bytes, label_where)
    if image.shape[:2] != label.shape:
        raise BadExample(
            f"{label_where}: mask is {label.shape[1]}x{label.shape[0]} but image "
            f"{image_path.name} is {image.shape[1]}x{image.shape[0]}"
        )
    bad = np.unique(label[(label != VOID) & (label >= num_classes)])
    if bad.size:
        raise BadExample(
            f"{label_where}: label values {bad.tolist()} are neither one of the {num_classes} "
            f"classes nor void ({VOID})"
        )
    return {"id": example_id, "image_bytes": image_bytes, "label_bytes": label_bytes}


class Decoded:
    """Random access to a prepared split, decoded: ``[i]`` is {'image', 'label', 'id'}."""

    def __init__(self, source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        record = self.source[index]
        example_id = record["id"]
        example_id = example_id.decode() if isinstance(example_id, bytes) else str(example_id)
        example = {"id": example_id, "image": decode_image(record["image_bytes"], example_id)}
        for key in record:
            name = key.removesuffix("_bytes")
            if key.endswith("label_bytes"):
                example[name] = decode_label(record[key], example_id)
            elif key != "image_bytes" and key.endswith("_bytes"):  # extra inputs: depth, HHA
                example[name] = decode_any(record[key], f"{example_id} {name}")
        return example
