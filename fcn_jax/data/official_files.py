"""The official files a dataset is prepared from: found under the manual directory, or
extracted once from the official archive there, and the id lists that come with them."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

from fcn_jax.data.encoded import BadExample


def find_or_extract(manual_dir: Path, search, archive: str) -> list[Path]:
    """``search()``'s results; if there are none, the official ``archive`` (tar or zip) in
    ``manual_dir`` is extracted once into ``manual_dir/extracted`` and searched again. An
    archive that cannot be read is refused by name, and nothing of it is left extracted."""
    found = search()
    path = Path(manual_dir) / archive
    if not found and path.exists():
        target = Path(manual_dir) / "extracted"
        partial = Path(manual_dir) / "extracted.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _extract(path, partial)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
            shutil.rmtree(partial, ignore_errors=True)
            raise BadExample(f"{path}: not a readable tar or zip archive{_reason(err)}") from err
        for item in partial.iterdir():  # into place only once the whole archive is out
            destination = target / item.name
            if not destination.exists():
                target.mkdir(exist_ok=True)
                item.rename(destination)
        shutil.rmtree(partial, ignore_errors=True)
        found = search()
    return found


def _reason(err: BaseException) -> str:
    """The last line of an archive library's error, in brackets: tarfile lists every method it
    tried, one a line, the last being the plain tar reader's."""
    lines = [line.strip().lstrip("- ") for line in str(err).splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1][:-1] if lines[-1].endswith("))") else lines[-1]  # tarfile's own bracket
    return f" ({last})"


def _extract(path: Path, into: Path) -> None:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as packed:
            packed.extractall(into)
    else:
        with tarfile.open(path) as packed:
            packed.extractall(into, filter="data")


def read_ids(path: Path) -> list[str]:
    """The ids of an official list file, one a line."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
