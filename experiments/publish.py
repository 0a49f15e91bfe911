"""Where an experiment's report goes: printed, and written into the results folder if one is
given (``--results``; ``run_all`` passes experiments/results)."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], results: str, name: str) -> Path | None:
    """Print the report ``lines``; with ``results``, also write them to ``results/name`` and
    return the folder (for the experiment's pictures), else None."""
    text = "\n".join(lines)
    print(text)
    if not results:
        return None
    out = Path(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text + "\n")
    return out
