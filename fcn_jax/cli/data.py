"""``fcn-jax data``: preparing and inspecting the paper's datasets."""

from __future__ import annotations

import argparse
import json


def run_prepare(args: argparse.Namespace) -> int:
    from fcn_jax.data.encoded import BadExample
    from fcn_jax.data.prepared import DatasetNotReady, info, prepare

    try:
        path = prepare(args.name, args.manual_dir, args.data_dir)
    except (BadExample, FileNotFoundError, DatasetNotReady) as err:
        raise SystemExit(f"fcn-jax data prepare: {err}") from err
    counts = ", ".join(f"{k} {v}" for k, v in info(args.name, args.data_dir)["splits"].items())
    print(f"prepared {args.name} in {path}: {counts}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from fcn_jax.data.prepared import DatasetNotReady, info

    try:
        found = info(args.name, args.data_dir)
    except DatasetNotReady as err:
        raise SystemExit(f"fcn-jax data info: {err}") from err
    if args.json:
        print(json.dumps(found))
    else:
        print(f"{found['name']}: " + ", ".join(f"{k} {v}" for k, v in found["splits"].items()))
        print("classes: " + ", ".join(found["class_names"]))
    return 0
