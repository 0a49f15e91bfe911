"""The official files a dataset is prepared from: found under the manual directory, or
extracted once from the official archive there, and the id lists that come with them."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path


def find_or_extract(manual_dir: Path, search, archive: str) -> list[Path]:
    """``search()``'s results; if there are none, the official ``archive`` (tar or zip) in
    ``manual_dir`` is extracted once into ``manual_dir/extracted`` and searched again."""
    found = search()
    path = Path(manual_dir) / archive
    if not found and path.exists():
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as packed:
                packed.extractall(Path(manual_dir) / "extracted")
        else:
            with tarfile.open(path) as packed:
                packed.extractall(Path(manual_dir) / "extracted", filter="data")
        found = search()
    return found


def read_ids(path: Path) -> list[str]:
    """The ids of an official list file, one a line."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
