"""XLA's persistent compilation cache for one command, and a count of what it saved.

``train``, ``eval`` and ``predict --workdir W`` keep compiled steps in ``W/xla_cache``;
``predict --weights DIR`` (converted weights have no workdir) in the user's cache,
``$XDG_CACHE_HOME/fcn_jax/xla`` (default ``~/.cache/fcn_jax/xla``). A second call with the
same image shapes then loads its executables instead of compiling them. A directory that
cannot be written is said in one line and the command goes on without the cache.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

HITS = "/jax/compilation_cache/cache_hits"
REQUESTS = "/jax/compilation_cache/compile_requests_use_cache"


def workdir_cache(workdir: str | Path) -> Path:
    return Path(workdir) / "xla_cache"


def user_cache(environ=os.environ) -> Path:
    """``$XDG_CACHE_HOME/fcn_jax/xla``, or ``~/.cache/fcn_jax/xla`` when it is unset."""
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fcn_jax" / "xla"


def unwritable(directory: Path) -> str | None:
    """Why ``directory`` cannot hold cache files (None: it can), created if need be."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def use_compilation_cache(directory: str | Path, command: str, probe: bool = True) -> Path | None:
    """Turn on JAX's persistent cache in ``directory`` for every compilation (none is too
    quick to keep: a whole-image run compiles one per shape). Returns the directory, or None
    after a one-line warning when it cannot be written. Call before the first compilation.
    ``probe=False`` (train: it checks its workdir itself, after the config) creates nothing:
    JAX makes the directory at its first write."""
    directory = Path(directory)
    reason = unwritable(directory) if probe else None
    if reason is not None:
        print(f"fcn-jax {command}: warning: cannot write the compilation cache {directory} "
              f"({reason}); compiling without it", file=sys.stderr)  # fmt: skip
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    return directory


class Compilations:
    """Compilations asked for while counting, and how many of them the cache answered."""

    def __init__(self):
        self.requests = self.loaded = 0

    def __call__(self, event: str, **_) -> None:
        self.requests += event == REQUESTS
        self.loaded += event == HITS

    def describe(self, cache: Path | None) -> str:
        if cache is None:
            return "no compilation cache"
        compiled = self.requests - self.loaded
        return f"{compiled} compiled, {self.loaded} loaded from {cache}"


@contextmanager
def counting_compilations():
    """A :class:`Compilations` that counts the cache's events while the block runs."""
    from jax import monitoring

    counter = Compilations()
    monitoring.register_event_listener(counter)
    try:
        yield counter
    finally:
        monitoring.unregister_event_listener(counter)
