"""``fcn-jax data``: preparing and inspecting the paper's datasets."""

from __future__ import annotations

import argparse
import json


def run_prepare(args: argparse.Namespace) -> int:
    from fcn_jax.data.encoded import BadExample
    from fcn_jax.data.prepared import DatasetNotReady, info, prepare

    _check_prepared_name("prepare", args.name)
    try:
        path = prepare(args.name, args.manual_dir, args.data_dir)
    except (BadExample, FileNotFoundError, DatasetNotReady) as err:
        raise SystemExit(f"fcn-jax data prepare: {err}") from err
    counts = ", ".join(f"{k} {v}" for k, v in info(args.name, args.data_dir)["splits"].items())
    print(f"prepared {args.name} in {path}: {counts}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from fcn_jax.data.datasets import describe
    from fcn_jax.data.folder import FolderError
    from fcn_jax.data.prepared import DatasetNotReady, info

    try:
        if _needs_no_preparing(args.name):
            found = describe(args.name)
        else:
            _check_prepared_name("info", args.name)
            found = info(args.name, args.data_dir)
    except (DatasetNotReady, FolderError) as err:
        raise SystemExit(f"fcn-jax data info: {err}") from err
    if args.json:
        print(json.dumps(found))
    else:
        print(f"{found['name']}: " + ", ".join(f"{k} {v}" for k, v in found["splits"].items()))
        print("classes: " + ", ".join(found["class_names"]))
        if "note" in found:
            print(found["note"])
    return 0


def _needs_no_preparing(name: str) -> bool:
    return name == "synthetic" or name.startswith("folder:")


def _check_prepared_name(command: str, name: str) -> None:
    """One line for a name ``data prepare`` / ``data info`` cannot build or read."""
    from fcn_jax.data.datasets import KNOWN, PREPARED

    if command == "prepare" and _needs_no_preparing(name):
        raise SystemExit(f"fcn-jax data prepare: {name!r} needs no preparing; train on it with "
                         f"--config.dataset={name}")  # fmt: skip
    if name not in PREPARED:
        raise SystemExit(f"fcn-jax data {command}: unknown dataset {name!r}; known: {KNOWN}")
