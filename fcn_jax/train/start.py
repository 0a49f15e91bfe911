"""The state a run starts from: its workdir's latest checkpoint, or a fresh one with layers
copied from other weights (``init_from``)."""

from __future__ import annotations

from pathlib import Path

import jax
from jax.experimental.multihost_utils import sync_global_devices

from fcn_jax.train.checkpoint import (
    CheckpointDamaged,
    CheckpointError,
    Checkpoints,
    check_same_net,
)
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
    """(the newest intact checkpoint's state, the step its data stream resumes at), if the
    checkpoint holds the net of ``spec`` and its data stream the settings ``data``. Damaged
    steps after it are set aside (:func:`set_aside`), each said in one line."""
    damaged = []
    for step in sorted(checkpoints.steps(), reverse=True):
        try:
            state, position = _restored(checkpoints, step, state, spec, data, workdir)
        except CheckpointDamaged as err:
            damaged.append(err)
            continue
        for err in damaged:
            aside = set_aside(checkpoints, err.step)
            print(f"{err}; set aside as {aside}; resuming from step {step}")
        print(f"resumed from step {int(state.step)} in {workdir}")
        return state, position["next_step"] if position else int(state.step)
    raise CheckpointError(
        f"no intact checkpoint in {checkpoints.directory}: {'; '.join(str(e) for e in damaged)}."
        " Use a new --workdir (the damaged steps are left as they are)"
    )


def _restored(checkpoints: Checkpoints, step: int, state, spec, data: dict, workdir) -> tuple:
    check_same_net(checkpoints.spec(step), spec, workdir)
    position = checkpoints.data(step)  # None: a checkpoint from before it was saved
    check_resumable(position, data, workdir)
    return checkpoints.restore(step, state), position


def set_aside(checkpoints: Checkpoints, step: int) -> Path:
    """Rename damaged ``step`` to ``STEP.damaged`` (kept, but no longer a step that is listed
    or in the way of the step's new save); its new path."""
    directory, several = checkpoints.directory, jax.process_count() > 1
    names = [f"{step}.damaged", *(f"{step}.damaged.{n}" for n in range(2, 1000))]
    aside = next(directory / name for name in names if not (directory / name).exists())
    if several:  # every process has chosen the name
        sync_global_devices(f"fcn_jax set aside step {step}: named")
    if jax.process_index() == 0:
        (directory / str(step)).rename(aside)
    if several:
        sync_global_devices(f"fcn_jax set aside step {step}: renamed")
    checkpoints.reload()
    return aside


def initialised(state, tx, init_from: str, streams, parallel: DataParallel):
    """``state`` with the layers of ``init_from`` copied in, and a fresh optimizer state."""
    variables, copied = initialise(variables_of(state), init_from, streams)
    params = jax.device_put(variables.pop("params"), parallel.replicated)
    model_state = jax.device_put(variables, parallel.replicated)
    opt_state = jax.jit(tx.init)(params)
    state = state.replace(params=params, opt_state=opt_state, model_state=model_state)
    print(f"initialised {len(copied)} layers from {init_from}")
    return state
