"""The bad-input catalogue (issue 23): every case of ``bad_input_cases.CASES`` through
``python -m fcn_jax.cli`` in its own process and temporary folder, each outcome classified:

- clear: exit code as expected (1, or 2 for usage), the last line of stderr names what the
  case says it must (the file, field or value) and no traceback was printed;
- traceback: a Python traceback on stderr;
- silent: exit 0 where an error was due, a run that trained on, or a file that was there
  before changed or disappeared;
- unclear: anything else (a one-liner naming nothing of the input, an unexpected exit code).

    python -m tests.bad_inputs [--jobs N] [--only SUBSTRING] [--no-run]

Prints a table and ``N inputs: C clear, T traceback, S silent`` (and ``, U unclear`` if any);
exits 1 unless every case is clear. ``--no-run`` skips the cases that need the tiny trained
run (made once, about a minute on two cores).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):  # `python tests/bad_inputs.py`
    sys.path.insert(0, str(Path(__file__).parent))
    from bad_input_cases import CASES, RUN_FLAGS, Case
else:
    from tests.bad_input_cases import CASES, RUN_FLAGS, Case

TIMEOUT = 90  # seconds per case; a train case is stopped at its first step
TRAINING_STARTED = "step 1/"


class Outcome(NamedTuple):
    case: Case
    verdict: str  # clear, traceback, silent, unclear or skipped
    code: int | None
    line: str  # stderr's last non-empty line, or why


def environment() -> dict:
    """One CPU device, and this checkout first on the path."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}


def command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "fcn_jax.cli", *argv]


def tiny_run(folder: Path) -> Path:
    """A two-step width-1/32 training run in ``folder``, made once."""
    run = folder / "run"
    argv = ["train", "--workdir", str(run), *RUN_FLAGS]
    done = subprocess.run(command(argv), env=environment(), capture_output=True, text=True,
                          timeout=600, cwd=folder)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the tiny run failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(run / "xla_cache", ignore_errors=True)
    return run


def fingerprints(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def set_up(case: Case, tmp: Path, run: Path | None) -> None:
    if case.needs_run:
        shutil.copytree(run, tmp / "run")
    for relative, content in case.files.items():
        path = tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def execute(case: Case, tmp: Path) -> tuple[int | None, str, bool]:
    """(exit code, stderr, whether training went on) of the case's command."""
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    out = open(tmp.parent / "stdout", "w+")  # noqa: SIM115
    with open(tmp.parent / "stderr", "w+") as err, out:
        process = subprocess.Popen(command(argv), env=environment(), stdout=out, stderr=err,
                                   cwd=tmp, text=True)  # fmt: skip
        trained, start = False, time.monotonic()
        while process.poll() is None:
            time.sleep(0.25)
            elapsed = time.monotonic() - start
            if case.interrupt_after is not None and elapsed > case.interrupt_after:
                process.send_signal(signal.SIGINT)
                case = case._replace(interrupt_after=None)
            out.seek(0)
            trained = TRAINING_STARTED in out.read() and case.argv[0] == "train"
            if trained or elapsed > TIMEOUT:
                process.kill()
                process.wait()
                break
        err.seek(0)
        return process.returncode, err.read(), trained or (time.monotonic() - start > TIMEOUT)


def classify(case: Case, code: int | None, stderr: str, went_on: bool, changed: list) -> Outcome:
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    if changed:
        return Outcome(case, "silent", code, f"changed or removed: {', '.join(changed[:3])}")
    if went_on:
        return Outcome(case, "silent", code, "went on (trained, or ran past the timeout)")
    if code == 0:
        return Outcome(case, "silent", code, "exit 0" + (f": {last}" if last else ""))
    if "Traceback (most recent call last)" in stderr:
        return Outcome(case, "traceback", code, last)
    if code in case.codes and case.names.lower() in last.lower():
        return Outcome(case, "clear", code, last)
    return Outcome(case, "unclear", code, last or "(no message)")


def run_case(case: Case, run: Path | None) -> Outcome:
    if case.needs_run and run is None:
        return Outcome(case, "skipped", None, "needs the tiny run (--no-run)")
    with tempfile.TemporaryDirectory(prefix="bad_input_") as top:
        tmp = Path(top) / "case"
        tmp.mkdir()
        set_up(case, tmp, run)
        before = fingerprints(tmp)
        code, stderr, went_on = execute(case, tmp)
        after = fingerprints(tmp)
        changed = [p for p, digest in before.items() if after.get(p) != digest]
        stderr = stderr.replace(str(tmp), "{tmp}")
        for path in tmp.rglob("*"):  # an unwritable folder a case made: let it be removed
            if path.is_dir():
                path.chmod(0o755)
        return classify(case, code, stderr, went_on, changed)


def table(outcomes: list[Outcome]) -> str:
    rows = [f"{'case':<34} {'class':<9} {'verdict':<9} {'exit':>4}  message"]
    for o in outcomes:
        rows.append(f"{o.case.name:<34} {o.case.kind:<9} {o.verdict:<9} "
                    f"{'' if o.code is None else o.code:>4}  {o.line[:140]}")  # fmt: skip
    return "\n".join(rows)


def summary(outcomes: list[Outcome]) -> str:
    ran = [o for o in outcomes if o.verdict != "skipped"]
    count = {v: sum(o.verdict == v for o in ran) for v in ("clear", "traceback", "silent")}
    line = f"{len(ran)} inputs: {count['clear']} clear, {count['traceback']} traceback, "
    line += f"{count['silent']} silent"
    unclear = sum(o.verdict == "unclear" for o in ran)
    return line + (f", {unclear} unclear" if unclear else "")


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m tests.bad_inputs", description=__doc__)
    options.add_argument("--jobs", type=int, default=2, help="cases run at once (2)")
    options.add_argument("--only", default="", help="cases whose name contains this")
    options.add_argument("--no-run", action="store_true", help="skip the cases needing a run")
    args = options.parse_args(argv)
    cases = [c for c in CASES if args.only in c.name]
    with tempfile.TemporaryDirectory(prefix="bad_inputs_run_") as folder:
        wanted = not args.no_run and any(c.needs_run for c in cases)
        run = tiny_run(Path(folder)) if wanted else None
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            outcomes = list(pool.map(lambda c: run_case(c, run), cases))
    print(table(outcomes))
    skipped = sum(o.verdict == "skipped" for o in outcomes)
    if skipped:
        print(f"({skipped} skipped: they need the tiny run)")
    print(summary(outcomes))
    return 0 if all(o.verdict in ("clear", "skipped") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
