"""Checkpoints, with Orbax (the only module that imports it).

A checkpoint holds the train state and, beside it, the JSON description of the model and its
preprocessing, so evaluation and prediction rebuild exactly the net that was trained. Orbax
writes each step to a temporary directory and renames it when complete, so an interrupted save
never leaves a half-written checkpoint that looks valid. The latest ``keep`` steps and the step
with the best validation mean IU are kept.
"""

from __future__ import annotations

from pathlib import Path

import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

BEST_METRIC = "mean_iu"


class Checkpoints:
    """Save and restore train states under ``directory``."""

    def __init__(self, directory: str | Path, keep: int = 2, read_only: bool = False):
        self.directory = Path(directory).absolute()
        if read_only and not self.directory.is_dir():
            raise FileNotFoundError(f"no checkpoints in {self.directory}")
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
        )
        self.manager = ocp.CheckpointManager(
            self.directory, item_names=("state", "model"), options=options
        )

    def save(self, step: int, state, model: dict, metrics: dict | None = None) -> None:
        """Save ``state`` and the ``model`` description at ``step`` (asynchronously)."""
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), model=ocp.args.JsonSave(model)
        )
        scalars = None if metrics is None else {BEST_METRIC: float(metrics[BEST_METRIC])}
        self.manager.save(step, args=args, metrics=scalars)

    def steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def best_step(self) -> int | None:
        return self.manager.best_step()

    def resolve(self, which: str | int = "latest") -> int:
        """The step of 'latest', 'best' or a step number, checked to exist."""
        steps = self.steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoints in {self.directory}")
        if which == "latest":
            return max(steps)
        if which == "best":
            best = self.best_step()
            if best is None:
                raise FileNotFoundError(f"no evaluated checkpoint in {self.directory}")
            return best
        step = int(which)
        if step not in steps:
            raise FileNotFoundError(f"no checkpoint at step {step} in {self.directory}: {steps}")
        return step

    def model(self, step: int) -> dict:
        """The model description saved with ``step``."""
        args = ocp.args.Composite(model=ocp.args.JsonRestore())
        return dict(self.manager.restore(step, args=args)["model"])

    def restore(self, step: int, abstract_state):
        """The state saved at ``step``, with the structure of ``abstract_state``."""
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
        return self.manager.restore(step, args=args)["state"]

    def restore_params(self, step: int) -> dict:
        """Only the params saved at ``step``, whatever optimizer state they were saved with."""
        args = ocp.args.Composite(state=ocp.args.StandardRestore())
        return self.manager.restore(step, args=args)["state"]["params"]

    def close(self) -> None:
        """Wait for pending saves and release the manager."""
        self.manager.wait_until_finished()
        self.manager.close()


def load_params(workdir: str | Path, step: int | str | None = None) -> dict:
    """The params of a training run: its latest checkpoint, or ``step`` ('best' or a number)."""
    checkpoints = Checkpoints(Path(workdir) / "checkpoints", read_only=True)
    return checkpoints.restore_params(checkpoints.resolve(step or "latest"))


class CheckpointMismatch(ValueError):
    """A workdir's checkpoint belongs to a different net than the config asks for."""


IDENTITY = {"arch": None, "num_classes": None, "width": None, "align": None,
            "inputs": "color", "streams": [], "heads": []}  # fmt: skip


def check_same_net(saved: dict, wanted: dict, workdir: str | Path) -> None:
    """Raise if the saved model description differs from the wanted one in anything that
    shapes the params (fields missing from older descriptions take their defaults)."""
    differences = [
        f"{key} {saved.get(key, default)!r} (saved) vs {wanted.get(key, default)!r} (config)"
        for key, default in IDENTITY.items()
        if saved.get(key, default) != wanted.get(key, default)
    ]
    if differences:
        raise CheckpointMismatch(
            f"{workdir} holds checkpoints of a different net: {'; '.join(differences)}. "
            f"Use a new --workdir, or --config.init_from={workdir} to start from its weights."
        )
