"""Reading the images ``predict`` is given: colour (or HHA) images as 8-bit RGB, depth PNGs as
they are stored.

A 16-bit image is brought to the 8-bit range by the range of its type (``value * 255 / 65535``,
rounded), as a viewer shows it; PIL's own conversion would clip every value above 255. A depth
PNG is a measurement (NYUDv2's are millimetres, ``data/nyud.py``) and is never scaled.

Inputs are given as files, folders and glob patterns (:func:`expand`): a folder stands for its
image files (by extension, ``IMAGE_SUFFIXES``, not its subfolders), a pattern for the image
files it matches (expanded here, so a quoted pattern works too), each sorted by name.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")  # PIL's modes of 16-bit grey images
WIDE = (*SIXTEEN_BIT, "I")  # Pillow opens some 16-bit PNGs as 32-bit 'I'
TOP_16 = 65535
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


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


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def expand_one(given: str, what: str) -> list[Path]:
    """The files ``given`` (a file, a folder or a glob pattern) stands for."""
    path = Path(given)
    if glob.has_magic(given) and not path.exists():
        matched = sorted(Path(p) for p in glob.glob(given, recursive=True))
        found = [p for p in matched if is_image_name(p)]
        if not found:
            some = f" (it matches {len(matched)} path(s), none an image file)" if matched else ""
            raise ImageFileError(f"{what} {given}: the pattern matches no image file{some}; "
                                 f"image files end in {', '.join(IMAGE_SUFFIXES)}")  # fmt: skip
        return found
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if is_image_name(p))
        if not found:
            raise ImageFileError(f"{what} {given}: the folder holds no image file (image files "
                                 f"end in {', '.join(IMAGE_SUFFIXES)})")  # fmt: skip
        return found
    if not path.exists():
        raise ImageFileError(f"{what} {given}: no such file or folder")
    return [path]


def expand(given: Sequence[str | Path], what: str = "image") -> list[Path]:
    """Every image file that the files, folders and glob patterns of ``given`` stand for, in
    the order given (a folder's or pattern's own files sorted by name); raises
    :class:`ImageFileError` naming a path that does not exist, or a folder or pattern with no
    image file."""
    return [found for one in given for found in expand_one(str(one), what)]
