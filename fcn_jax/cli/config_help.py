"""``fcn-jax config`` and the field list of ``fcn-jax train --help``: every config field with
its default (or a config's value) and its meaning, from ``default_config.groups()``. Light:
ml_collections only, no JAX."""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap

from fcn_jax import default_config

__all__ = ["HEADER", "field_table", "fields_json", "run_config"]

HEADER = (
    "config fields: --config.FIELD=VALUE sets one, --config FILE starts from a file's "
    "get_config()\n(experiments/configs/ holds the paper's); defaults: fcn_jax/default_config.py"
)
NAME_WIDTH = 23  # longer names (optimizer.accumulate_steps) push their value to the next line
MARK = "*"  # before a value that differs from the default


def shown(value) -> str:
    """A value as a user would type it in Python: 'synthetic', 0.125, (96, 112, 128), None."""
    if hasattr(value, "get") and callable(value.get) and not isinstance(value, dict):
        value = value.get()  # a FieldReference (placeholder)
    if isinstance(value, list):
        value = tuple(value)
    return repr(value)


def field_table(config=None, width: int | None = None) -> str:
    """Every field, grouped, as ``name  value  meaning`` lines no wider than ``width`` (the
    terminal's, at most 100). With ``config``, its values; those not the default are marked."""
    width = width or min(100, shutil.get_terminal_size((100, 24)).columns)
    values = _flat(config) if config is not None else {}
    rows = []
    for title, fields in default_config.groups():
        rows.append((title, None))
        for name, default, meaning in fields:
            value = shown(values.get(name, default))
            changed = config is not None and value != shown(default)
            if changed:
                meaning = f"{meaning} (default {shown(default)})"
            rows.append((name, (f"{MARK if changed else ''}{value}", meaning)))
    name_width = min(NAME_WIDTH, max(len(name) for name, row in rows if row))
    value_width = min(16, max(len(row[0]) for _, row in rows if row))
    indent = 2 + name_width + 2 + value_width + 2
    lines = [HEADER]
    for name, row in rows:
        if row is None:
            lines += ["", f"{name}:"]
            continue
        value, meaning = row
        if len(name) > name_width:
            lines.append(f"  {name}")
            name = ""
        head = f"  {name:<{name_width}}  {value:<{value_width}}  "
        if len(head) > indent:  # a long value: the meaning starts on the next line
            lines.append(head.rstrip())
            head = " " * indent
        wrapped = textwrap.wrap(meaning, max(20, width - indent)) or [""]
        lines.append(head + wrapped[0])
        lines += [" " * indent + more for more in wrapped[1:]]
    return "\n".join(lines)


def fields_json(config=None) -> dict:
    """``{field: {group, default, meaning[, value]}}`` in the table's order."""
    values = _flat(config) if config is not None else {}
    out = {}
    for title, fields in default_config.groups():
        for name, default, meaning in fields:
            entry = {"group": title, "default": _plain(default), "meaning": meaning}
            if config is not None:
                entry["value"] = _plain(values.get(name, default))
            out[name] = entry
    return out


def _plain(value):
    if hasattr(value, "get") and callable(value.get) and not isinstance(value, dict):
        value = value.get()
    return list(value) if isinstance(value, tuple) else value


def _flat(config) -> dict:
    """As ``config_check.flat``, which imports JAX (through the schema's choices)."""
    values = config.to_dict()
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def run_config(args: argparse.Namespace, overrides: list[str]) -> int:
    """Print every field with its default, or with ``--config FILE`` / ``--config.FIELD=V``
    the values of that config, changed ones marked."""
    config = None
    if overrides:
        from fcn_jax.cli.training import load_config

        try:
            config = load_config(overrides)
        except SystemExit as stop:  # load_config speaks for fcn-jax train
            if isinstance(stop.code, str):
                raise SystemExit(
                    stop.code.replace("fcn-jax train:", "fcn-jax config:", 1)
                ) from stop
            raise
    if args.json:
        print(json.dumps(fields_json(config)))
    else:
        print(field_table(config))
        if config is not None:
            print(f"\n{MARK}: not the default")
    return 0
