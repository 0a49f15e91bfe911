"""Reading a state dict (name -> array) from ``.pth``, ``.npz`` or ``.safetensors`` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fcn_jax.weights.assign import to_numpy

STATE_SUFFIXES = (".pth", ".pt", ".bin", ".npz", ".safetensors")


class WeightsFileError(ValueError):
    """A weights file that cannot be read; names the file."""


def read_state(path: str | Path) -> dict[str, np.ndarray]:
    """The flat state dict in ``path`` as float32 numpy arrays, in file order.

    ``.pth``/``.pt``/``.bin`` need torch (loaded with ``weights_only=True``: no code in the file
    runs); a checkpoint holding the state dict under ``state_dict``, ``model_state_dict`` or
    ``model`` is unwrapped. ``.npz`` and ``.safetensors`` are read without torch.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in STATE_SUFFIXES:
        raise WeightsFileError(
            f"{path}: unknown weights format {suffix!r}; expected one of {STATE_SUFFIXES}"
        )
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                state = {k: data[k] for k in data.files}
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            state = load_file(path)
        else:
            state = _torch_state(path)
    except WeightsFileError:
        raise
    except Exception as err:  # each library has its own error types for a corrupt file
        raise WeightsFileError(f"{path}: cannot read it as {suffix}: {err}") from err
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
