"""Where a run starts from: the variables and preprocessing of a training workdir, a
converted-weights directory or an ``.npz`` state dict (:func:`read_source`), copied into the
new net by name (:func:`initialise`, with :func:`fcn_jax.weights.surgery.transplant`)."""

from __future__ import annotations

from pathlib import Path

from fcn_jax.data.preprocessing import Normalisation
from fcn_jax.weights.surgery import transplant


class InitError(ValueError):
    """A source that cannot initialise the net (nothing matches, statistics missing)."""


def read_source(source: str | Path) -> dict:
    """``{'params': ..., 'batch_stats': ...}`` (batch statistics where the source has them)
    from a training workdir (its latest checkpoint), a directory written by ``fcn-jax
    convert``, or an ``.npz`` of a torchfcn-style state dict (``conv1_1.weight``)."""
    from fcn_jax.weights.bundle import is_bundle, load_batch_stats, load_bundle

    path = Path(source)
    if is_bundle(path):
        stats = load_batch_stats(path)
        return {"params": load_bundle(path)[0], **({"batch_stats": stats} if stats else {})}
    if path.suffix == ".npz":
        from fcn_jax.weights import state_to_params
        from fcn_jax.weights.files import WeightsFileError, read_state

        try:
            state = read_state(path)
        except WeightsFileError as err:
            raise InitError(f"init_from: {err}") from err
        return {"params": state_to_params(state)}
    from fcn_jax.train.checkpoint import restore_variables

    return restore_variables(path)


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
        return checkpoints.spec(checkpoints.resolve("latest")).preprocessing
    return None


def initialise(variables: dict, init_from: str, streams: tuple[str, ...]) -> tuple[dict, list]:
    """``variables`` (params and batch-norm statistics) with layers copied from ``init_from``:
    one source, or for a late-fusion net one source per stream separated by '|' (e.g.
    'runs/nyud_color|runs/nyud_hha'). Returns them and the names of the layers copied."""
    if not streams:
        return _copy(variables, read_source(init_from), init_from)
    sources = init_from.split("|")
    if len(sources) != len(streams):
        raise ValueError(f"init_from {init_from!r} needs one source per stream {list(streams)}")
    params, copied = dict(variables["params"]), []
    for stream, source in zip(streams, sources, strict=True):
        params[stream], names = transplant(params[stream], read_source(source)["params"])
        if not names:
            raise InitError(f"init_from {source}: no layer matches stream {stream!r}")
        copied += [f"{stream}/{name}" for name in names]
    return {**variables, "params": params}, copied


def _copy(target: dict, source: dict, where: str) -> tuple[dict, list[str]]:
    """``target``'s collections with the layers of ``source`` that match copied in."""
    result, copied = {}, {}
    for collection, tree in target.items():
        result[collection], copied[collection] = transplant(tree, source.get(collection, {}))
    if not copied["params"]:
        raise InitError(f"init_from {where}: no layer's name and shapes match the net's "
                        f"({', '.join(list(source['params'])[:6])}, ...)")  # fmt: skip
    norms = set(target.get("batch_stats", {}))
    lacking = [n for n in copied["params"] if n in norms and n not in copied["batch_stats"]]
    if lacking:
        raise InitError(f"init_from {where}: batch norms {', '.join(lacking[:6])} come "
                        "without their running statistics")  # fmt: skip
    return result, copied["params"]
