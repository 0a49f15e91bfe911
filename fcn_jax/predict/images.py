"""Reading the images ``predict`` is given: colour (or HHA) images as 8-bit RGB, depth PNGs as
they are stored.

A 16-bit image is brought to the 8-bit range by the range of its type (``value * 255 / 65535``,
rounded), as a viewer shows it; PIL's own conversion would clip every value above 255. A depth
PNG is a measurement (NYUDv2's are millimetres, ``data/nyud.py``) and is never scaled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")  # PIL's modes of 16-bit grey images
WIDE = (*SIXTEEN_BIT, "I")  # Pillow opens some 16-bit PNGs as 32-bit 'I'
TOP_16 = 65535


class ImageFileError(ValueError):
    """An input image that cannot be used; names the file."""


def _opened(path: Path, what: str) -> Image.Image:
    """The decoded image at ``path``; every way it can fail is one line in our words."""
    if path.is_dir():
        raise ImageFileError(f"{what} {path}: is a directory, not an image file")
    if not path.is_file():
        raise ImageFileError(f"{what} {path}: no such file")
    try:
        image = Image.open(path)
        image.load()
        return image
    except Image.DecompressionBombError as err:
        raise ImageFileError(f"{what} {path}: too many pixels to decode safely") from err
    except Image.UnidentifiedImageError as err:
        raise ImageFileError(f"{what} {path}: not an image file (no format PIL reads)") from err
    except PermissionError as err:
        raise ImageFileError(f"{what} {path}: not readable (permission denied)") from err
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise ImageFileError(f"{what} {path}: truncated or corrupt image file") from err


def to_8bit(grey: np.ndarray, path: Path, what: str) -> np.ndarray:
    """A 16-bit grey image scaled to 0..255 by the type's range."""
    grey = np.asarray(grey, np.int64)
    if grey.min() < 0 or grey.max() > TOP_16:
        raise ImageFileError(f"{what} {path}: values {grey.min()}..{grey.max()} are outside "
                             "16 bits (0..65535): not an image predict can scale")  # fmt: skip
    return np.round(grey * (255 / TOP_16)).astype(np.uint8)


def read_rgb(path: str | Path, what: str = "image") -> np.ndarray:
    """An (H, W, 3) uint8 image; a 16-bit grey image is scaled, not clipped."""
    path = Path(path)
    with _opened(path, what) as image:
        if image.mode in WIDE:
            grey = to_8bit(np.asarray(image), path, what)
            return np.repeat(grey[..., None], 3, axis=-1)
        if image.mode == "F":
            raise ImageFileError(f"{what} {path}: a floating-point image has no fixed range; "
                                 "save it as an 8- or 16-bit image")  # fmt: skip
        return np.asarray(image.convert("RGB"))


def read_depth(path: str | Path, what: str = "depth image") -> np.ndarray:
    """An (H, W) depth map with its stored values (NYUDv2: 16-bit millimetres, 0 = missing)."""
    path = Path(path)
    with _opened(path, what) as image:
        depth = np.asarray(image)
    if depth.ndim != 2:
        raise ImageFileError(f"{what} {path}: has {depth.shape[-1]} channels; a depth PNG has "
                             "one (16-bit millimetres, as NYUDv2's)")  # fmt: skip
    return depth
