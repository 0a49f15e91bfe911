"""Reading a state dict (name -> array) from ``.pth``, ``.npz`` or ``.safetensors`` files."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np

from fcn_jax.weights.assign import to_numpy

STATE_SUFFIXES = (".pth", ".pt", ".bin", ".npz", ".safetensors")
ZIP, PICKLE = b"PK\x03\x04", b"\x80"  # how a zip archive (.npz, torch.save) and a pickle start


class WeightsFileError(ValueError):
    """A weights file that cannot be read; names the file."""


def read_state(path: str | Path) -> dict[str, np.ndarray]:
    """The flat state dict in ``path`` as float32 numpy arrays, in file order.

    ``.pth``/``.pt``/``.bin`` need torch (loaded with ``weights_only=True``: no code in the file
    runs); a checkpoint holding the state dict under ``state_dict``, ``model_state_dict`` or
    ``model`` is unwrapped. ``.npz`` and ``.safetensors`` are read without torch.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsFileError(f"{path}: is a directory, not a weights file")
    if not path.is_file():
        raise WeightsFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in STATE_SUFFIXES:
        raise WeightsFileError(
            f"{path}: unknown weights format {suffix!r}; expected one of {STATE_SUFFIXES}"
        )
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: not the user's
            warnings.simplefilter("ignore")
            if suffix == ".npz":
                state = read_npz(path)
            elif suffix == ".safetensors":
                from safetensors.numpy import load_file

                state = load_file(path)
            else:
                state = _torch_state(path)
    except WeightsFileError:
        raise
    except Exception as err:  # each library has its own error types for a corrupt file
        raise WeightsFileError(f"{path}: cannot read it as {suffix}: {problem(path, err)}") from err
    bad = [k for k, v in state.items() if not hasattr(v, "shape")]
    if bad:
        raise WeightsFileError(f"{path}: entries {bad[:5]} are not arrays: not a state dict")
    return {key: to_numpy(value) for key, value in state.items()}


def _torch_state(path: Path) -> dict:
    try:
        import torch
    except ImportError as err:
        raise WeightsFileError(
            f"{path}: reading {path.suffix} files needs torch (pip install 'fcn-jax[torch]'), "
            "or save the state dict as .npz or .safetensors"
        ) from err
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict):
        raise WeightsFileError(f"{path}: holds a {type(loaded).__name__}, not a state dict")
    return loaded


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, never unpickling anything (numpy's errors: see problem)."""
    with np.load(path, allow_pickle=False) as data:
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array (.npy), not an archive")
        return {k: data[k] for k in data.files}


def problem(path: Path, err: BaseException) -> str:
    """What is wrong with a weights file a library failed to read, in our words: judged from
    the file's first bytes and the kind of error, never the library's advice."""
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError as failed:
        return failed.strerror or "not readable"
    suffix = path.suffix.lower()
    if not head:
        return "the file is empty"
    if head.startswith(ZIP) and not zipfile.is_zipfile(path):
        return "truncated or corrupt (its zip archive is incomplete)"
    if suffix == ".npz":
        if not head.startswith(ZIP):
            return "not an .npz archive (numpy.savez writes one)"
        if isinstance(err, ValueError) and "allow_pickle" in str(err):
            return "holds object arrays, which are not loaded (only numeric arrays are)"
        return "truncated or corrupt archive"
    if suffix == ".safetensors":
        return "not a .safetensors file, or truncated"
    if head.startswith(ZIP) or head.startswith(PICKLE):
        if isinstance(err, pickle.UnpicklingError):  # weights_only refused an object
            return ("holds objects other than tensors, which are not loaded (no code in a "
                    "weights file runs): save the state dict alone")  # fmt: skip
        return "truncated or corrupt"
    return "not a torch file (torch.save writes a zip archive or a pickle)"
