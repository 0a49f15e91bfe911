"""The state a run starts from: its workdir's latest checkpoint, or a fresh one with layers
copied from other weights (``init_from``)."""

from __future__ import annotations

import jax

from fcn_jax.train.checkpoint import Checkpoints, check_same_net
from fcn_jax.train.init_from import initialise
from fcn_jax.train.parallel import DataParallel
from fcn_jax.train.step import variables_of


def check_resumable(saved: dict | None, wanted: dict, workdir) -> None:
    """Raise if the config's ``wanted`` settings change what the saved data stream depends on."""
    for field in wanted if saved else ():
        if saved[field] != wanted[field]:
            raise ValueError(
                f"{workdir} was trained with {field}={saved[field]!r}; resuming with "
                f"config.{field}={wanted[field]!r} would change the data it sees. Keep it, or "
                f"use a new --workdir with --config.init_from={workdir}"
            )


def resumed(checkpoints: Checkpoints, state, spec, data: dict, workdir) -> tuple:
    """(the latest checkpoint's state, the step its data stream resumes at), if the checkpoint
    holds the net of ``spec`` and its data stream the settings ``data``."""
    latest = checkpoints.resolve("latest")
    check_same_net(checkpoints.spec(latest), spec, workdir)
    position = checkpoints.data(latest)  # None: a checkpoint from before it was saved
    check_resumable(position, data, workdir)
    state = checkpoints.restore(latest, state)
    print(f"resumed from step {int(state.step)} in {workdir}")
    return state, position["next_step"] if position else int(state.step)


def initialised(state, tx, init_from: str, streams, parallel: DataParallel):
    """``state`` with the layers of ``init_from`` copied in, and a fresh optimizer state."""
    variables, copied = initialise(variables_of(state), init_from, streams)
    params = jax.device_put(variables.pop("params"), parallel.replicated)
    model_state = jax.device_put(variables, parallel.replicated)
    opt_state = jax.jit(tx.init)(params)
    state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
    print(f"initialised {len(copied)} layers from {init_from}")
    return state
