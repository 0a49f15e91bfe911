"""``fcn-jax data``: preparing and inspecting the paper's datasets."""

from __future__ import annotations

import argparse
import json
import sys
import time


def run_prepare(args: argparse.Namespace) -> int:
    from fcn_jax.data.encoded import BadExample
    from fcn_jax.data.prepared import (
        DatasetNotReady,
        builder,
        check_manual_dir,
        info,
        official_files,
        prepare,
    )

    _check_prepared_name("prepare", args.name)
    if builder(args.name, args.data_dir).is_prepared():
        found = info(args.name, args.data_dir)
        print(f"{args.name} is already prepared in {found['path']}: {_counts(found)} (delete "
              f"that folder to build it again)")  # fmt: skip
        return 0
    try:
        check_manual_dir(args.name, args.manual_dir)
    except FileNotFoundError as err:
        raise SystemExit(f"fcn-jax data prepare: {err}") from err
    print(f"building {args.name} from {args.manual_dir} ({official_files(args.name, urls=False)}); "
          f"every example is read and checked, nothing is downloaded", flush=True)  # fmt: skip
    started = time.perf_counter()
    try:
        prepare(args.name, args.manual_dir, args.data_dir, progress=sys.stderr.isatty())
    except (BadExample, FileNotFoundError, DatasetNotReady) as err:
        raise SystemExit(f"fcn-jax data prepare: {err}") from err
    found = info(args.name, args.data_dir)
    print(f"wrote {args.name} to {found['path']} in {time.perf_counter() - started:.1f} s: "
          f"{_counts(found)}, {len(found['class_names'])} classes")  # fmt: skip
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
        return 0
    where = f" (in {found['path']})" if "path" in found else ""
    print(f"{found['name']}{where}: {_counts(found)}")
    print(f"{len(found['class_names'])} classes: " + ", ".join(found["class_names"]))
    if "note" in found:
        print(found["note"])
    return 0


def _counts(found: dict) -> str:
    return ", ".join(f"{split} {count}" for split, count in found["splits"].items())


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
