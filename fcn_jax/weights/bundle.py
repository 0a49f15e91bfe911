"""A converted-weights directory: ``params.npz`` and ``weights.json`` (the net they fit and the
preprocessing they expect). ``--config.init_from=DIR`` and ``fcn-jax predict --weights DIR``
read it.

Each file is written to a temporary name and renamed into place, and all carry the same random
``bundle_id``: files of two different writes (a conversion interrupted between its renames) are
refused on loading, so a bundle is read whole or not at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import zipfile
from pathlib import Path

import numpy as np

from fcn_jax.data.preprocessing import from_json

PARAMS, META, STATS = "params.npz", "weights.json", "batch_stats.npz"
FILES = (PARAMS, META, STATS)  # what a write may replace
FORMAT = "fcn-jax weights"
REQUIRED = ("arch", "num_classes", "width", "preprocessing")
ID = "__bundle_id__"  # in each .npz, beside the arrays; 'bundle_id' in weights.json
READ_ERRORS = (OSError, ValueError, zipfile.BadZipFile, EOFError)


class BundleError(ValueError):
    """A weights directory that is missing, incomplete or inconsistent; names the file."""


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / META).is_file()


def flatten(params: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = np.asarray(value)
    return flat


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    params: dict = {}
    for key, value in flat.items():
        *path, leaf = key.split("/")
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return params


def _replace(target: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(handle, 0o666 & ~umask)  # as a plain open() would, not mkstemp's 0600
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_bundle(
    directory: str | Path, params: dict, meta: dict, batch_stats: dict | None = None
) -> Path:
    """Write ``params``, ``batch_stats`` (batch-norm nets) and ``meta`` (``REQUIRED`` fields,
    ``preprocessing`` as a :class:`Normalisation`) to ``directory``; returns it."""
    directory = Path(directory)
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"weights metadata lacks {missing}")
    directory.mkdir(parents=True, exist_ok=True)
    bundle_id = uuid.uuid4().hex
    meta = {"format": FORMAT, **meta, "preprocessing": meta["preprocessing"].to_json(),
            "bundle_id": bundle_id}  # fmt: skip

    def arrays(tree):
        return {**flatten(tree), ID: np.array(bundle_id)}

    _replace(directory / PARAMS, lambda f: np.savez(f, **arrays(params)))
    if batch_stats:
        _replace(directory / STATS, lambda f: np.savez(f, **arrays(batch_stats)))
    else:
        (directory / STATS).unlink(missing_ok=True)
    text = json.dumps(meta, indent=2).encode()
    _replace(directory / META, lambda f: f.write(text))
    return directory


def load_meta(directory: str | Path) -> dict:
    """The metadata of a weights directory, ``preprocessing`` as a :class:`Normalisation`."""
    path = Path(directory) / META
    if Path(directory).exists() and not Path(directory).is_dir():
        raise BundleError(f"{directory}: a file, not a converted-weights directory")
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise BundleError(f"{directory}: no {META}; not a converted-weights directory") from err
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: cannot read it: not JSON (line {err.lineno} column "
                          f"{err.colno})") from err  # fmt: skip
    except UnicodeDecodeError as err:
        raise BundleError(f"{path}: cannot read it: not a text file") from err
    except OSError as err:
        raise BundleError(f"{path}: cannot read it: {err.strerror}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{path}: not an fcn-jax weights file (no format {FORMAT!r})")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise BundleError(f"{path}: missing field(s) {', '.join(missing)}")
    try:
        meta["preprocessing"] = from_json(meta["preprocessing"], str(path))
    except ValueError as err:
        raise BundleError(str(err)) from err
    return meta


def load_bundle(directory: str | Path) -> tuple[dict, dict]:
    """(params, metadata) of a weights directory."""
    meta = load_meta(directory)
    return _arrays(Path(directory) / PARAMS, meta), meta


def load_batch_stats(directory: str | Path) -> dict:
    """The batch-norm statistics of a weights directory ({} for nets without batch norm)."""
    path = Path(directory) / STATS
    if not path.is_file():
        return {}
    return _arrays(path, load_meta(directory))


def _arrays(path: Path, meta: dict) -> dict:
    """The tree in an .npz of the bundle, checked to come from the same write as ``meta``."""
    from fcn_jax.weights.files import problem, read_npz  # files -> assign -> this module

    try:
        flat = read_npz(path)
    except READ_ERRORS as err:
        raise BundleError(f"{path}: cannot read it: {problem(path, err)}") from err
    written = str(flat.pop(ID, ""))
    if written != meta.get("bundle_id", written):
        raise BundleError(f"{path} and {META} come from two different writes (an interrupted "
                          "conversion?): convert again")  # fmt: skip
    return unflatten(flat)
