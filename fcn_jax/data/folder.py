"""A user's own dataset in a folder: ``images/`` and ``masks/``, optional split and class files.

    PATH/images/<id>.jpg|.jpeg|.png    RGB images
    PATH/masks/<id>.png                palette ('P') or single-channel ('L') PNGs of class
                                       indices; 255 is void
    PATH/train.txt, PATH/val.txt       optional: one id per line (default: every 10th id, in
                                       sorted order, is validation; the rest is training)
    PATH/classes.txt                   optional: one class name per line (default: classes
                                       0..max label found, named by number)

Every pair is validated when the folder is opened: the image decodes completely and is RGB, the
mask is an index PNG of the same size, every label is a class or 255, every id in a split file
exists. A bad pair is an error naming the file and the offending value; with
``on_error='skip'`` bad pairs are left out and listed in ``skipped`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fcn_jax.data.labels import VOID

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class FolderError(ValueError):
    """A folder dataset is malformed; the message names the file."""


def read_image(path: Path) -> np.ndarray:
    """An RGB image as (H, W, 3) uint8; anything else is a FolderError naming the file."""
    try:
        with Image.open(path) as image:
            image.load()  # decodes fully: a truncated file fails here, not later
            mode = image.mode
            pixels = np.asarray(image)
    except (OSError, ValueError, SyntaxError) as err:
        raise FolderError(f"{path}: cannot decode image ({err})") from err
    if mode != "RGB":
        raise FolderError(
            f"{path}: image mode is {mode}, expected RGB (convert grayscale, RGBA or CMYK "
            "images to RGB first)"
        )
    return pixels


def read_mask(path: Path) -> np.ndarray:
    """Class indices (H, W) uint8 from a palette or single-channel PNG."""
    try:
        with Image.open(path) as mask:
            mask.load()
            mode, fmt = mask.mode, mask.format
            labels = np.asarray(mask)
    except (OSError, ValueError, SyntaxError) as err:
        raise FolderError(f"{path}: cannot decode mask ({err})") from err
    if fmt != "PNG" or mode not in ("P", "L"):
        raise FolderError(
            f"{path}: mask is a {fmt} in mode {mode}; expected a palette (P) or single-channel "
            "(L) PNG of class indices"
        )
    return labels


def _ids_from(path: Path, known: dict[str, Path]) -> list[str]:
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name not in known:
            raise FolderError(f"{path}, line {number}: id {name!r} has no image in images/")
        ids.append(name)
    return ids


@dataclass
class FolderSplit:
    """Random access to the validated pairs of one split: ``[i]`` is {'image', 'label'}."""

    pairs: list[tuple[Path, Path]]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        image, mask = self.pairs[index]
        return {"image": read_image(image), "label": read_mask(mask)}


@dataclass
class FolderDataset:
    """The two splits of a folder dataset, its class names, the mean colour of its training
    images, and the errors of the pairs that were skipped."""

    train: FolderSplit
    val: FolderSplit
    class_names: tuple[str, ...]
    mean_rgb: tuple[float, float, float]
    skipped: list[str] = field(default_factory=list)


def open_folder(root: str | Path, on_error: str = "raise") -> FolderDataset:
    """Validate every pair under ``root`` and return its splits (see the module docstring)."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    root = Path(root)
    images_dir, masks_dir = root / "images", root / "masks"
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise FolderError(f"{folder}: missing; a folder dataset needs images/ and masks/")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise FolderError(f"{images_dir}: no .jpg, .jpeg or .png images")
    names = None
    if (root / "classes.txt").exists():
        names = tuple(
            n.strip() for n in (root / "classes.txt").read_text().splitlines() if n.strip()
        )
        if not names:
            raise FolderError(f"{root / 'classes.txt'}: no class names")

    good: dict[str, tuple[Path, Path]] = {}
    skipped: list[str] = []
    colours: dict[str, tuple[np.ndarray, int]] = {}  # per id: colour sum, pixel count
    max_label = 0
    for name, image_path in images.items():
        mask_path = masks_dir / f"{name}.png"
        try:
            if not mask_path.exists():
                raise FolderError(f"{image_path}: no mask {mask_path}")
            image, labels = read_image(image_path), read_mask(mask_path)
            if image.shape[:2] != labels.shape:
                raise FolderError(
                    f"{mask_path}: mask is {labels.shape[1]}x{labels.shape[0]} but its image "
                    f"{image_path.name} is {image.shape[1]}x{image.shape[0]}"
                )
            values = np.unique(labels[labels != VOID])
            if names is not None and values.size and values[-1] >= len(names):
                bad = [int(v) for v in values if v >= len(names)]
                raise FolderError(
                    f"{mask_path}: label values {bad} are neither one of the {len(names)} "
                    f"classes of classes.txt nor void ({VOID})"
                )
        except FolderError as err:
            if on_error == "raise":
                raise
            skipped.append(str(err))
            continue
        good[name] = (image_path, mask_path)
        colours[name] = image.reshape(-1, 3).sum(axis=0), image.shape[0] * image.shape[1]
        max_label = max(max_label, int(values[-1]) if values.size else 0)
    if not good:
        raise FolderError(f"{root}: no valid image/mask pairs ({len(skipped)} skipped)")

    ids = sorted(good)
    split_files = {s: root / f"{s}.txt" for s in ("train", "val")}
    if all(p.exists() for p in split_files.values()):
        train_ids, val_ids = (_ids_from(p, images) for p in split_files.values())
        if on_error == "skip":
            train_ids, val_ids = ([i for i in s if i in good] for s in (train_ids, val_ids))
        for i in (*train_ids, *val_ids):
            if i not in good:
                raise FolderError(f"split id {i!r} names a pair that failed validation")
    elif any(p.exists() for p in split_files.values()):
        raise FolderError(f"{root}: give both train.txt and val.txt, or neither")
    else:
        val_ids = ids[::10]
        train_ids = [i for i in ids if i not in set(val_ids)]
    for split, chosen in (("train", train_ids), ("val", val_ids)):
        if not chosen:
            raise FolderError(f"{root}: the {split} split has no valid pairs")
    names = names or tuple(str(c) for c in range(max_label + 1))
    colour_sum = sum(colours[i][0] for i in train_ids)
    pixels = sum(colours[i][1] for i in train_ids)
    return FolderDataset(
        FolderSplit([good[i] for i in train_ids]),
        FolderSplit([good[i] for i in val_ids]),
        names,
        tuple(float(c) for c in colour_sum / pixels),
        skipped,
    )
