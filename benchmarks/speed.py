"""The speed rows of ``benchmarks.run``: ours and every peer (``benchmarks/peers.py``), each in
a worker process of its own, alternated round by round, and the table of them.

Every worker of a row has the same allocator setting (``KEEPS``); the first setting asked for
is the headline, the others are extra rows. Each peer's logits are checked against ours (the
same weights in every worker); a peer that fails to build or to run is a row's failure, with
its one-line reason, not the run's.
"""

from __future__ import annotations

import contextlib
import statistics

from benchmarks.contenders import jax_contenders, jax_model
from benchmarks.flops import forward_flops, train_flops
from benchmarks.isolated import Isolated
from benchmarks.peers import PEERS, peer_worker
from benchmarks.timing import alternating_samples
from benchmarks.versus import AGREE, agreement, one_line, ratio_text, versus

TASKS = ("infer", "train")
# --allocator: whether (our worker, every peer's worker) keeps freed memory (fcn_jax/allocator.py)
KEEPS = {"neither": (False, False), "both": (True, True), "ours": (True, False)}


def started(stack, name: str, tasks, factory, *args, **kwargs) -> tuple[dict, dict]:
    """The contenders of a worker entered on ``stack``, named '{name}_{task}', and the
    failures: every task of a worker that failed to start, with the reason."""
    try:
        remotes = stack.enter_context(Isolated(factory, *args, **kwargs))
    except RuntimeError as error:
        return {}, {f"{name}_{task}": one_line(error) for task in tasks}
    if not remotes:  # the factory found its framework missing
        why = "not installed (the bench extra installs it)"
        return {}, {f"{name}_{task}": why for task in tasks}
    return {f"{name}_{task}": remote for task, remote in remotes.items()}, {}


def warmed(contenders: dict) -> tuple[dict, dict, dict]:
    """Call each contender once (torch.compile compiles here): the logits of each inference
    ('{name}_infer' gives name's), the contenders that ran, and the failures of the rest."""
    logits, running, failed = {}, {}, {}
    for name, remote in contenders.items():
        try:
            if name.endswith("_infer"):
                logits[name.removesuffix("_infer")] = remote.value()
            else:
                remote()
        except RuntimeError as error:
            failed[name] = one_line(error)
        else:
            running[name] = remote
    return logits, running, failed


def speed(size, repeats, dtype, peak, allocator="neither", weights=None, peers=tuple(PEERS)):
    """Medians of ours and each of ``peers`` at size x size with the ``allocator`` setting,
    paired ratios to each peer and to the best, logits agreement, FLOP rates."""
    ours_keep, theirs_keep = KEEPS[allocator]
    weights = None if weights is None else str(weights)
    with contextlib.ExitStack() as stack:  # each worker ends with the block
        ours = {"dtype": dtype, "keep_freed_memory": ours_keep, "weights": weights}
        contenders, failed = started(stack, "jax", TASKS, jax_contenders, size, size, **ours)
        for peer in peers:
            more, why = started(stack, peer, PEERS[peer][1], peer_worker, peer, size, size,
                                weights, theirs_keep)  # fmt: skip
            contenders, failed = contenders | more, failed | why
        logits, contenders, why = warmed(contenders)
        failed |= why
        if any(f"jax_{task}" in failed for task in TASKS):
            raise RuntimeError(f"ours failed at {size}: {failed}")
        samples = alternating_samples(contenders, repeats)
    medians = {name: statistics.median(ts) for name, ts in samples.items()}
    model, shape = jax_model(), (1, size, size, 3)
    flops = {"infer": forward_flops(model, shape), "train": train_flops(model, shape, False)}
    result = {"size": size, "dtype": dtype, "allocator": allocator, "peers": list(peers),
              "seconds": medians, "samples": samples, "flops": flops, "failed": failed}  # fmt: skip
    mine = logits.pop("jax")
    result["agreement"] = {peer: agreement(mine, theirs) for peer, theirs in logits.items()}
    for task in TASKS:
        ours_s = medians[f"jax_{task}"]
        result[f"jax_{task}_gflops"] = flops[task] / ours_s / 1e9
        result[f"jax_{task}_of_peak"] = flops[task] / ours_s / 1e9 / peak
        named = {peer: samples.get(f"{peer}_{task}") for peer in peers}
        result[task] = versus(named | {"jax": samples[f"jax_{task}"]}, "jax", list(peers))
    return result


def cell(row: dict, peer: str, task: str, scale: float) -> str:
    """A peer's time and ratio, 'failed' (the reason is below the table) or '-' (not run)."""
    name = f"{peer}_{task}"
    if name in row["failed"]:
        return "failed"
    if name not in row["seconds"]:
        return "-"
    return f"{row['seconds'][name] * scale:.3f} ({row[task]['vs'][peer]['median']:.2f}x)"


def speed_table(rows: list[dict]) -> list[str]:
    """The markdown table of the speed rows, then the notes: the ratios' meaning, each peer's
    agreement with our logits, each failure's reason."""
    every = [t for row in rows for t in row["seconds"].values()]
    unit, scale = ("ms", 1e3) if max(every) < 0.1 else ("s", 1)  # a GPU's calls take ms
    peers = [p for p in PEERS if any(p in row["peers"] for row in rows)]
    lines = [
        f"| size | allocator | task | ours ({unit}) | "
        + "".join(f"{PEERS[p][0]} ({unit}) | " for p in peers)
        + "vs best peer | ours img/s | ours GFLOP/s | of peak |",
        "|---" * (8 + len(peers)) + "|",
    ]
    for row in rows:
        for task in TASKS:
            ours, best = row["seconds"][f"jax_{task}"], row[task]["best"]
            lines.append(
                f"| {row['size']} | {row['allocator']} | {task} | {ours * scale:.3f} | "
                + "".join(f"{cell(row, p, task, scale)} | " for p in peers)
                + (f"{ratio_text(row[task]['vs_best'])} {PEERS[best][0]}" if best else "-")
                + f" | {1 / ours:.2f} | {row[f'jax_{task}_gflops']:.0f}"
                + f" | {row[f'jax_{task}_of_peak']:.0%} |"
            )
    lines.append(
        "\nNx: their time over ours, the median of each round's pair (range in brackets in "
        "'vs best peer'); above 1 ours is faster. allocator: which workers keep freed memory "
        "(neither: glibc's default in every worker; both: every worker keeps it; ours: ours only)"
    )
    for row in rows:
        where = f"at {row['size']} ({row['allocator']})"
        if row["agreement"]:
            lines.append(
                f"logits against ours {where}, max |theirs - ours| / max |ours| (agree within "
                f"{AGREE:.0e}): "
                + ", ".join(
                    f"{PEERS[p][0]} {value:.1e}" + ("" if value <= AGREE else " DISAGREES")
                    for p, value in row["agreement"].items()
                )
            )
        for name, reason in row["failed"].items():
            peer, task = name.rsplit("_", 1)
            lines.append(f"{PEERS[peer][0]} {task} {where} failed: {reason}")
    return lines
