"""Contenders built and run in a process of their own, called from this one.

A framework is timed as its users run it: alone in its process, with its own allocator state,
thread pools and process-start settings (``benchmarks.run --hugepages`` gives the workers
``GLIBC_TUNABLES``, which glibc reads only when a process starts). ``benchmarks.run`` builds
ours and each peer (``benchmarks/peers.py``) in a worker process of its own
(``multiprocessing``'s spawn start) and alternates them from the parent; each worker times its
calls itself, so the pipe's latency is not in the figures, and hands back an inference's
logits for the check against ours. On the 2-core CPU this changed nothing measurable against
running both frameworks in one process (training at 256x256: 1.21x PyTorch, paired range
1.11-1.31, against 1.25x, 1.21-1.33; one run each, and 1.15x in the full run after): what
slows each framework after the other is in the shared kernel (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import traceback
from collections.abc import Callable

import numpy as np

from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import timed


def _serve(conn, factory, args, kwargs) -> None:
    """Build ``factory(*args, **kwargs)`` (a dict of zero-argument callables, or None for
    none) and answer (name, calls) requests with the seconds the calls took, (name, None)
    with what one call returns as a numpy array, until None."""
    share_the_accelerator()  # the worker's entry, before its factory starts JAX or PyTorch
    try:
        contenders = factory(*args, **kwargs) or {}
    except Exception:  # the parent raises it, with the worker's traceback
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", sorted(contenders)))
    while (request := conn.recv()) is not None:
        name, calls = request
        try:
            if calls is None:
                conn.send(("done", as_numpy(contenders[name]())))
            else:
                conn.send(("done", timed(contenders[name], calls)))
        except Exception:  # likewise
            conn.send(("error", traceback.format_exc()))


def as_numpy(value):
    """``value`` (a JAX array, a torch tensor on any device, a numpy array) as numpy."""
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
    return np.asarray(value)


class Remote:
    """One contender of a worker: calling it runs it once there; ``timed(calls)`` gives the
    seconds of ``calls`` back-to-back calls as the worker measured them."""

    def __init__(self, worker: Isolated, name: str):
        self.worker, self.name = worker, name

    def __call__(self) -> None:
        self.timed(1)

    def timed(self, calls: int) -> float:
        return self.worker.ask((self.name, calls))

    def value(self):
        """What one call returns (the logits of an ``infer``), as a numpy array."""
        return self.worker.ask((self.name, None))


class Isolated:
    """``with Isolated(jax_contenders, 256, 256) as ours:`` ``ours`` maps each contender's
    name to a :class:`Remote`; the worker ends with the block. ``factory`` must be importable
    by name (a module-level function), as spawn pickles it."""

    def __init__(self, factory: Callable[..., dict | None], *args, **kwargs):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, factory, args, kwargs), daemon=True
        )
        self.label = f"{getattr(factory, '__qualname__', factory)}{args}"
        self.process.start()
        child.close()
        try:
            self.names = self._answer()
        except RuntimeError:
            self.close()
            raise

    def _answer(self):
        try:
            kind, value = self.conn.recv()
        except EOFError:
            self.process.join(timeout=5)
            code = self.process.exitcode
            raise RuntimeError(f"{self.label}: worker ended (exit code {code})") from None
        if kind == "error":
            raise RuntimeError(f"{self.label}: in the worker process:\n{value}")
        return value

    def ask(self, request):
        """Send a request and wait for its answer (no timeout: a contender that hangs hangs
        the benchmark, as it would run in-process)."""
        self.conn.send(request)
        return self._answer()

    def __enter__(self) -> dict[str, Remote]:
        return {name: Remote(self, name) for name in self.names}

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):  # it may have ended since
                self.conn.send(None)
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()
