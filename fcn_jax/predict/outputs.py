"""The files one ``predict`` call writes, checked before any is written.

Every input gets ``<stem>.png`` and ``<stem>_overlay.png`` (FCNs) and, with a heatmap class
``k``, ``<stem>_heat_<k>.npy`` and ``.png``, in the output directory. ``<stem>.png`` and the
``.npy`` are data: the class index of each pixel (one byte, a palette PNG), the score at the
net's resolution. The other two are figures for a person: the image at its own pixels with the
labels over it and a legend of the classes they hold, or with the class's score over it, a
colour bar from 0 to 1 and the class's name on top (:func:`heat_title`). The call is refused,
before anything is written, when one of those files would be one of its inputs (any image,
depth or HHA file) or when two inputs would write the same file (two stems alike, from two
folders or two suffixes). A file left by an earlier call is overwritten, as a rerun expects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class OutputClash(ValueError):
    """Outputs of one call that would overwrite an input or each other."""


def names(stem: str, labels: bool, heat_class: int | None) -> list[str]:
    """The file names written for an input of ``stem``, in the order they are written."""
    found = [f"{stem}.png", f"{stem}_overlay.png"] if labels else []
    if heat_class is not None:
        found += [f"{stem}_heat_{heat_class}.npy", f"{stem}_heat_{heat_class}.png"]
    return found


def heat_title(k: int, class_names: Sequence[str] | None) -> str:
    """The title of a heatmap of class ``k``: ``'class 15 (person): softmax score'``."""
    name = f" ({class_names[k]})" if class_names and k < len(class_names) else ""
    return f"class {k}{name}: softmax score"


def plan(
    images: Sequence[str | Path], out: Path, labels: bool, heat_class: int | None
) -> list[list[Path]]:
    """The output paths of each image, in order."""
    return [[out / n for n in names(Path(p).stem, labels, heat_class)] for p in images]


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (symlinks and hard links included)."""
    if _key(a) == _key(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def check(planned: list[list[Path]], images: Sequence, inputs: Sequence) -> None:
    """Refuse outputs that would overwrite one of ``inputs`` or another output of the call;
    ``images[i]`` is the image whose outputs are ``planned[i]``."""
    seen: dict[str, Path] = {}
    for image, paths in zip(images, planned, strict=True):
        for path in paths:
            clobbered = next((p for p in inputs if _same_file(path, Path(p))), None)
            if clobbered is not None:
                raise OutputClash(
                    f"writing {path} would overwrite the input {clobbered}: "
                    "choose another --out directory"
                )
            if (earlier := seen.get(_key(path))) is not None:
                raise OutputClash(
                    f"{earlier} and {image} would both write {path}: their names differ only "
                    "in folder or suffix; predict them with different --out directories"
                )
            seen[_key(path)] = Path(image)


def output_directory(out: str | Path) -> Path:
    """``out``, created if need be; a file there is refused, not replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputClash(f"--out {out} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputClash(f"--out {out}: cannot create the directory ({err.strerror})") from err
    return out
