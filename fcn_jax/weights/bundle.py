"""A converted-weights directory: ``params.npz`` and ``weights.json`` (the net they fit and the
preprocessing they expect). ``--config.init_from=DIR`` and ``fcn-jax predict --weights DIR``
read it.

Both files are written to temporary names and renamed into place, params first, so an
interrupted conversion leaves either the previous complete bundle or a new complete one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from fcn_jax.preprocessing import Normalisation, from_json

PARAMS, META, STATS = "params.npz", "weights.json", "batch_stats.npz"
FORMAT = "fcn-jax weights"
REQUIRED = ("arch", "num_classes", "width", "preprocessing")


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
    meta = {"format": FORMAT, **meta, "preprocessing": meta["preprocessing"].to_json()}
    _replace(directory / PARAMS, lambda f: np.savez(f, **flatten(params)))
    if batch_stats:
        _replace(directory / STATS, lambda f: np.savez(f, **flatten(batch_stats)))
    else:
        (directory / STATS).unlink(missing_ok=True)
    text = json.dumps(meta, indent=2).encode()
    _replace(directory / META, lambda f: f.write(text))
    return directory


def load_meta(directory: str | Path) -> dict:
    """The metadata of a weights directory, ``preprocessing`` as a :class:`Normalisation`."""
    path = Path(directory) / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise BundleError(f"{directory}: no {META}; not a converted-weights directory") from err
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: cannot read it: {err}") from err
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
    path = Path(directory) / PARAMS
    try:
        with np.load(path, allow_pickle=False) as data:
            params = unflatten({k: data[k] for k in data.files})
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: cannot read it: {err}") from err
    return params, meta


def load_batch_stats(directory: str | Path) -> dict:
    """The batch-norm statistics of a weights directory ({} for nets without batch norm)."""
    path = Path(directory) / STATS
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return unflatten({k: data[k] for k in data.files})
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: cannot read it: {err}") from err


def stored_preprocessing(source: str | Path) -> Normalisation | None:
    """The normalisation stored with ``source`` (a weights directory), or None."""
    return load_meta(source)["preprocessing"] if is_bundle(source) else None
