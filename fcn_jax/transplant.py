"""Initialising a net from another: staged training (FCN-32s -> 16s -> 8s) and pretrained trunks."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from fcn_jax.preprocessing import Normalisation, from_json


def load_params(source: str | Path) -> dict:
    """Params from a training workdir (its latest checkpoint), a directory written by
    ``fcn-jax convert``, or an ``.npz`` of a torchfcn-style state dict (``conv1_1.weight``)."""
    from fcn_jax.weights.bundle import is_bundle, load_bundle

    path = Path(source)
    if is_bundle(path):
        return load_bundle(path)[0]
    if path.suffix == ".npz":
        from fcn_jax.weights import state_to_params

        with np.load(path) as data:
            return state_to_params(dict(data))
    from fcn_jax.checkpoint import load_params as load_run

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
        from fcn_jax.checkpoint import Checkpoints

        checkpoints = Checkpoints(path / "checkpoints", read_only=True)
        stored = checkpoints.model(checkpoints.resolve("latest")).get("preprocessing")
        return None if stored is None else from_json(stored, f"{path} model description")
    return None


def transplant(target: dict, source: dict) -> tuple[dict, list[str]]:
    """``target`` params with every layer whose name and shapes match in ``source`` copied over.

    Layers only in the target (e.g. the new skip's score_pool4, zero-initialised, and its
    bilinear upscore2) keep their initialisation, as in the paper's staged training. A layer
    present in both with different shapes is an error naming it.
    """
    result, copied = dict(target), []
    for name, leaves in target.items():
        if name not in source:
            continue
        got = jax.tree.map(np.shape, source[name])
        want = jax.tree.map(np.shape, leaves)
        if got != want:
            raise ValueError(f"cannot initialise layer {name}: shapes {got} != {want}")
        result[name] = jax.tree.map(lambda s, t: np.asarray(s, t.dtype), source[name], leaves)
        copied.append(name)
    return result, copied
