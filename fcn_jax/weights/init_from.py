"""Where a run starts from: the params and preprocessing of a training workdir, a
converted-weights directory or an ``.npz`` state dict (copied into the new net by
:func:`fcn_jax.weights.surgery.transplant`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fcn_jax.data.preprocessing import Normalisation, from_json


class InitError(ValueError):
    """A source that cannot initialise the net (nothing matches, statistics missing)."""


def load_params(source: str | Path) -> dict:
    """Params from a training workdir (its latest checkpoint), a directory written by
    ``fcn-jax convert``, or an ``.npz`` of a torchfcn-style state dict (``conv1_1.weight``)."""
    return load_variables(source)["params"]


def load_variables(source: str | Path) -> dict:
    """``{'params': ..., 'batch_stats': ...}`` (batch statistics where the source has them)
    from any source :func:`load_params` reads."""
    from fcn_jax.weights.bundle import is_bundle, load_batch_stats, load_bundle

    path = Path(source)
    if is_bundle(path):
        stats = load_batch_stats(path)
        return {"params": load_bundle(path)[0], **({"batch_stats": stats} if stats else {})}
    if path.suffix == ".npz":
        from fcn_jax.weights import state_to_params

        with np.load(path) as data:
            return {"params": state_to_params(dict(data))}
    from fcn_jax.train.checkpoint import load_variables as load_run

    return load_run(path)


def source_preprocessing(source: str | Path) -> Normalisation | None:
    """The input normalisation stored with ``source``: a converted-weights directory's, or that
    a training workdir's checkpoint inherited from its own source; None if none is stored (an
    ``.npz``, a run trained with its dataset's mean)."""
    from fcn_jax.weights.bundle import is_bundle, load_meta

    path = Path(source)
    if is_bundle(path):
        return load_meta(path)["preprocessing"]
    if (path / "checkpoints").is_dir():
        from fcn_jax.train.checkpoint import Checkpoints

        checkpoints = Checkpoints(path / "checkpoints", read_only=True)
        stored = checkpoints.model(checkpoints.resolve("latest")).get("preprocessing")
        return None if stored is None else from_json(stored, f"{path} model description")
    return None
