"""Ours against the peers, from the samples of one speed run: each peer's paired ratio to ours,
the best peer of a task, whether a peer's logits agree with ours, and a failure in one line."""

from __future__ import annotations

import re
import statistics

import numpy as np

from benchmarks.timing import paired_ratios

EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(: |$)")  # 'KeyError: 3', 'a.b.InductorError: ...'
AGREE = 1e-4  # of the largest logit: float32 round-off over VGG16's depth is ~1e-6


def one_line(message, limit: int = 200) -> str:
    """The exception's line of an error (a worker's traceback: its last line that starts with
    an exception's name, as 'torch._inductor.exc.InductorError: ...', so that hints printed
    after it are passed over), else its last non-empty line; cut to ``limit`` characters."""
    lines = [line.rstrip() for line in str(message).splitlines() if line.strip()]
    named = [line for line in lines if EXCEPTION.match(line)]
    line = (named or lines or ["no message"])[-1].strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    """The largest difference between our logits (NHWC) and a peer's (NCHW), relative to our
    largest logit."""
    theirs = np.transpose(theirs, (0, 2, 3, 1))
    if theirs.shape != ours.shape:
        raise ValueError(f"logits of shape {theirs.shape} (as NHWC) against ours {ours.shape}")
    ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    return float(np.max(np.abs(theirs - ours)) / np.max(np.abs(ours)))


def best_peer(samples: dict[str, list[float]], peers: list[str]) -> str | None:
    """The peer (of ``peers`` with samples) with the lowest median, None if none has any."""
    timed = [p for p in peers if samples.get(p)]
    return min(timed, key=lambda p: statistics.median(samples[p]), default=None)


def versus(samples: dict[str, list[float]], ours: str, peers: list[str]) -> dict:
    """Each peer's paired ratio to ``ours`` (their time over ours, each round's pair: above 1
    we are faster), and the best peer's (``best``, ``vs_best``; None without peers)."""
    ratios = {p: paired_ratios(samples[p], samples[ours]) for p in peers if samples.get(p)}
    best = best_peer(samples, peers)
    return {"vs": ratios, "best": best, "vs_best": ratios.get(best)}


def ratio_text(ratio: dict | None) -> str:
    """'1.50x (1.41-1.62)': the median of the paired ratios and their range."""
    if ratio is None:
        return "-"
    return f"{ratio['median']:.2f}x ({ratio['low']:.2f}-{ratio['high']:.2f})"
