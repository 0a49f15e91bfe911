"""Checkpoints, with Orbax (the only module that imports it).

A checkpoint holds the train state and, beside it, the run description (a
:class:`~fcn_jax.train.spec.RunSpec` as JSON: the model and its preprocessing), so evaluation
and prediction rebuild exactly the net that was trained. Orbax writes each step to a temporary
directory and renames it when complete, so an interrupted save never leaves a half-written
checkpoint that looks valid (a process killed mid-save leaves a ``*.orbax-checkpoint-tmp``
directory that is never listed and is removed on the next start). The latest ``keep`` steps
and the step with the best validation mean IU are kept. A save that fails (disk full,
directory not writable) raises :class:`CheckpointError` naming the step and the directory, at
the step it is noticed (:meth:`Checkpoints.check` after every step), and its temporary
directory is removed; the steps saved before it stay as they were.

Each step also holds the checksums of its arrays (:mod:`fcn_jax.train.checksums`), verified on
every restore: a step whose arrays differ from them, or whose files cannot be read, raises
:class:`CheckpointDamaged` naming it and what is damaged. Steps written before checksums were
saved restore unverified, with a note.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from fcn_jax.train.checkpoint_errors import (
    CheckpointDamaged,
    CheckpointError,
    NoCheckpoint,
    failure_reason,
    quiet_orbax,
)
from fcn_jax.train.checksums import FORMAT, checksums, describe, mismatched
from fcn_jax.train.spec import RunSpec

BEST_METRIC = "mean_iu"
ITEMS = ("state", "model", "data", "checksums")
TMP = "*.orbax-checkpoint-tmp*"  # Orbax's name for a step being written


def check_writable(directory: str | Path) -> None:
    """Raise :class:`CheckpointError` now, not hours later at the first save, if files cannot
    be created in ``directory``."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory) as probe:
            probe.write(b"0")
    except OSError as err:
        raise CheckpointError(f"cannot write to {directory}: {err}") from err


class Checkpoints:
    """Save and restore train states under ``directory``."""

    def __init__(self, directory: str | Path, keep: int = 2, read_only: bool = False):
        self.directory = Path(directory).absolute()
        if read_only and not self.directory.is_dir():
            raise NoCheckpoint(f"no checkpoints in {self.directory}")
        policy = policies.AnyPreservationPolicy(
            [
                policies.LatestN(keep),
                policies.BestN(
                    get_metric_fn=lambda m: m[BEST_METRIC],
                    n=1,
                    keep_checkpoints_without_metrics=False,
                ),
            ]
        )
        options = ocp.CheckpointManagerOptions(
            best_fn=lambda m: m[BEST_METRIC],  # makes Orbax record the metrics
            preservation_policy=policy,
            read_only=read_only,
            create=not read_only,
            cleanup_tmp_directories=not read_only,
        )
        self.manager = ocp.CheckpointManager(self.directory, item_names=ITEMS, options=options)
        self.pending: int | None = None  # the step being written in the background
        self.unverified_said = False
        quiet_orbax()

    def save(
        self,
        step: int,
        state,
        model: dict,
        metrics: dict | None = None,
        data: dict | None = None,
    ) -> None:
        """Save ``state``, the ``model`` description (JSON) and the ``data`` iterator's position at
        ``step``; the arrays are written in the background."""
        items = {"state": ocp.args.StandardSave(state), "model": ocp.args.JsonSave(model)}
        sums = {"format": FORMAT, "arrays": checksums(state)}
        items["checksums"] = ocp.args.JsonSave(sums)
        if data is not None:
            items["data"] = ocp.args.JsonSave(data)
        scalars = None if metrics is None else {BEST_METRIC: float(metrics[BEST_METRIC])}
        with self._failures(step):
            self.manager.save(step, args=ocp.args.Composite(**items), metrics=scalars)
        self.pending = step

    @contextmanager
    def _failures(self, step: int | None):
        """Turn an error of Orbax's while saving into a :class:`CheckpointError` saying which
        step failed and which steps are still good."""
        try:
            yield
        except Exception as err:
            failed = self.pending if self.pending is not None else step
            self.pending = None
            if jax.process_index() == 0:
                for tmp in self.directory.glob(TMP):
                    shutil.rmtree(tmp, ignore_errors=True)
            self.manager.reload()  # what is on disk, not the steps it meant to remove
            intact = sorted(s for s in self.steps() if s != failed)
            raise CheckpointError(
                f"saving the checkpoint of step {failed} in {self.directory} failed "
                f"({failure_reason(err)}). Checkpoints {intact} are intact."
            ) from None

    def wait(self) -> None:
        """Block until the background save is complete; raise if it failed."""
        with self._failures(self.pending):
            self.manager.wait_until_finished()
        self.pending = None

    def check(self, wait: bool = False) -> None:
        """Raise :class:`CheckpointError` now if the background save has failed; a save still
        being written is waited for only if ``wait`` (before costly work: a validation)."""
        if self.pending is not None and (wait or not self.manager.is_saving_in_progress()):
            self.wait()

    def steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def best_step(self) -> int | None:
        return self.manager.best_step()

    def resolve(self, which: str | int = "latest") -> int:
        """The step of 'latest', 'best' or a step number, checked to exist."""
        steps = self.steps()
        if not steps:
            raise NoCheckpoint(f"no checkpoints in {self.directory}")
        if which == "latest":
            return max(steps)
        if which == "best":
            best = self.best_step()
            if best is None:
                raise NoCheckpoint(f"no evaluated checkpoint in {self.directory}")
            return best
        step = int(which)
        if step not in steps:
            raise NoCheckpoint(f"no checkpoint at step {step} in {self.directory}: {steps}")
        return step

    @contextmanager
    def _reading(self, step: int, what: str):
        """Turn an error of Orbax's while reading ``what`` of ``step`` into
        :class:`CheckpointDamaged`."""
        try:
            yield
        except CheckpointDamaged:
            raise
        except Exception:
            raise CheckpointDamaged(self.directory, step, f"its {what} cannot be read") from None

    def _item(self, step: int, name: str, what: str) -> dict | None:
        """The JSON item ``name`` of ``step`` (None if the step has none)."""
        if not (self.directory / str(step) / name).exists():
            return None
        with self._reading(step, what):
            args = ocp.args.Composite(**{name: ocp.args.JsonRestore()})
            return dict(self.manager.restore(step, args=args)[name])

    def _state_metadata(self, step: int) -> dict:
        with self._reading(step, "state/_METADATA (the arrays' shapes)"):
            saved = ocp.StandardCheckpointer().metadata(self.directory / str(step) / "state")
            return dict(saved.item_metadata.tree)

    def _restored(self, step: int, abstract, checked: tuple[str, ...] = ()):
        """The state of ``step`` as ``abstract`` describes it, checked against its checksums
        (only its fields ``checked``, if given)."""
        with self._reading(step, "state arrays (files truncated or garbled)"):
            args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
            state = self.manager.restore(step, args=args)["state"]
        sums = self._item(step, "checksums", "checksums (checksums/metadata)")
        if sums is None:
            if not self.unverified_said:
                print(f"checkpoint step {step} in {self.directory} has no checksums (written "
                      "before they were saved): restored unverified", file=sys.stderr)  # fmt: skip
            self.unverified_said = True
            return state
        tree = {k: state[k] for k in checked if k in state} if checked else state
        if bad := mismatched(tree, sums.get("arrays", {})):
            raise CheckpointDamaged(
                self.directory, step, f"arrays {describe(bad)} differ from their checksums"
            )
        return state

    def model(self, step: int) -> dict:
        """The run description saved with ``step``, as JSON."""
        model = self._item(step, "model", "run description (model/metadata)")
        if model is None:
            raise CheckpointDamaged(self.directory, step, "its run description (model) is missing")
        return model

    def spec(self, step: int) -> RunSpec:
        """The run description saved with ``step``, in any format written so far."""
        return RunSpec.from_json(self.model(step), f"{self.directory / str(step)}")

    def restore(self, step: int, abstract_state):
        """The state saved at ``step``, with the structure of ``abstract_state``. Checkpoints
        written before train states carried ``model_state`` (batch-norm statistics) restore
        into a state whose model state is empty."""
        older = "model_state" not in self._state_metadata(step)
        if older and hasattr(abstract_state, "model_state") and not abstract_state.model_state:
            fields = {k: getattr(abstract_state, k) for k in ("step", "params", "opt_state", "rng")}
            return abstract_state.replace(**self._restored(step, fields))
        return self._restored(step, abstract_state)

    def data(self, step: int) -> dict | None:
        """The data iterator's position saved with ``step`` (None for older checkpoints)."""
        return self._item(step, "data", "data stream position (data/metadata)")

    def restore_params(self, step: int) -> dict:
        """Only the params saved at ``step``, whatever optimizer state, device count or number
        of processes they were saved with, as arrays on this process's first device."""
        return self.restore_variables(step)["params"]

    def restore_variables(self, step: int) -> dict:
        """The net's variables saved at ``step``: params and (batch norm) model state, placed
        as :meth:`restore_params` places them. A damaged step raises
        :class:`CheckpointDamaged` listing the intact ones."""
        try:
            return self._variables(step)
        except CheckpointDamaged as err:
            intact = [s for s in self.steps() if s != step and self._intact(s)]
            raise CheckpointDamaged(self.directory, step, err.what, intact) from None

    def _variables(self, step: int) -> dict:
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        abstract = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
            self._state_metadata(step),
        )
        state = self._restored(step, abstract, checked=("params", "model_state"))
        return {"params": state["params"], **(state.get("model_state") or {})}

    def _intact(self, step: int) -> bool:
        try:
            self._variables(step)
        except CheckpointDamaged:
            return False
        return True

    def reload(self) -> None:
        """Read the steps on disk again (after one was renamed)."""
        self.manager.reload()

    def close(self) -> None:
        """Wait for pending saves and release the manager; raise if a save failed."""
        try:
            if self.pending is not None:
                self.wait()
        finally:
            self.manager.close()


def restore_params(workdir: str | Path, step: int | str | None = None) -> dict:
    """The params of a training run: its latest checkpoint, or ``step`` ('best' or a number)."""
    return restore_variables(workdir, step)["params"]


def restore_variables(workdir: str | Path, step: int | str | None = None) -> dict:
    """Params and batch-norm statistics of a training run (as :func:`restore_params`)."""
    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    return checkpoints.restore_variables(checkpoints.resolve(step or "latest"))


class CheckpointMismatch(ValueError):
    """A workdir's checkpoint belongs to a different net than the config asks for."""


IDENTITY = ("arch", "num_classes", "width", "align", "inputs", "streams", "heads", "aux")


def check_same_net(saved: RunSpec, wanted: RunSpec, workdir: str | Path) -> None:
    """Raise if the saved run description differs from the wanted one in anything that shapes
    the params (:data:`IDENTITY`)."""
    differences = [
        f"{key} {getattr(saved, key)!r} (saved) vs {getattr(wanted, key)!r} (config)"
        for key in IDENTITY
        if getattr(saved, key) != getattr(wanted, key)
    ]
    if differences:
        raise CheckpointMismatch(
            f"{workdir} holds checkpoints of a different net: {'; '.join(differences)}. "
            f"Use a new --workdir, or --config.init_from={workdir} to start from its weights."
        )
