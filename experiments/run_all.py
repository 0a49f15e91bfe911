"""Regenerate every table and plot of the paper's experiments that need no dataset.

    python -m experiments.run_all [--full] [--only NAME ...] [--skip NAME ...]
        [--results experiments/results]

Runs each script in its own process with its default (quick) sizes, or with ``--full``, and
lets it write its markdown table and PNG plots into ``--results``. ``--only geometry_tables``
regenerates the geometry table of every net (not run by default; saved from its output as
``geometry_tables.md``). Finally writes ``run_all.md``: each script's command and wall-clock
(rows of scripts not run this time are kept).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = (
    "table1",
    "patchwise_vs_whole",
    "whole_is_patchwise",
    "shift_and_stitch",
    "skips_on_synthetic",
)
# Not run by default (minutes per net with the ResNets): ``--only geometry_tables``. It takes no
# --results / --full flags; its stdout is the table.
PRINTS_ONLY = ("geometry_tables", "jaxpr_geometry")


def command(name: str, results: str, full: bool) -> list[str]:
    """The command line that runs script ``name``."""
    if name in PRINTS_ONLY:
        return [sys.executable, "-m", f"experiments.{name}"]
    return [sys.executable, "-m", f"experiments.{name}", "--results", results] + (
        ["--full"] if full else []
    )


def timing_rows(path: Path) -> dict[str, str]:
    """The rows of an existing ``run_all.md`` by script name."""
    if not path.exists():
        return {}
    rows = [ln for ln in path.read_text().splitlines() if ln.startswith("| ")][1:]
    return {row.split("|")[1].strip(): row for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every script at full size")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS + PRINTS_ONLY, default=list(SCRIPTS))
    parser.add_argument("--skip", nargs="+", choices=SCRIPTS, default=[])
    parser.add_argument("--results", default="experiments/results")
    args = parser.parse_args()
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    rows = timing_rows(out / "run_all.md")
    for name in [n for n in args.only if n not in args.skip]:
        cmd = command(name, args.results, args.full)
        shown = " ".join(["python", *cmd[1:]])
        print(f"== {shown}", flush=True)
        start = time.perf_counter()
        if name in PRINTS_ONLY:
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            (out / f"{name}.md").write_text(done.stdout)
            print(done.stdout, flush=True)
        else:
            subprocess.run(cmd, check=True)
        rows[name] = f"| {name} | `{shown}` | {time.perf_counter() - start:.0f} s |"
    table = ["| script | command | wall-clock |", "|---|---|---|"]
    table += [rows[name] for name in SCRIPTS + PRINTS_ONLY if name in rows]
    (out / "run_all.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
