"""Keep the memory a training step frees inside the process, for the next step to reuse.

``keep_freed_memory`` sets glibc's malloc to serve every buffer from one heap (no ``mmap`` of
its own per large buffer, unmapped when freed) and never to trim that heap, and JAX's CPU
calls to return only once they have freed their temporaries; ``kept`` reads back from glibc
whether it keeps freed memory; ``release_freed_memory`` hands the free memory back
(``malloc_trim``); ``ReleaseOnNewShape`` does that when the batch shape changes. It is a
process-wide setting, so it is made at the edge (``fcn-jax train``, the benchmark's worker for
this library), never on import. Why, with the measurements: ``docs/performance.md``, "Freed
memory".
"""

from __future__ import annotations

import ctypes
import platform

# mallopt's parameter numbers, from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8

SETTINGS = {
    M_ARENA_MAX: 1,  # one heap: a thread's own arena could not grow past 64 MiB without mmap
    M_MMAP_MAX: 0,  # no buffer gets a mapping of its own, to be unmapped when freed
    M_TRIM_THRESHOLD: -1,  # never give the top of the heap back (2**31 - 1 would, past 2 GiB)
}


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc 2.33 on), field for field."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


PROBE_BYTES = 64 * 2**20  # above glibc's largest mmap threshold (32 MiB): mapped by default


def _glibc():
    """The C library, where it is glibc (whose settings this module makes), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = _MallInfo2
    return libc


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep what is freed for reuse, and JAX's CPU calls return only once
    they have freed their temporaries (see the module docstring); True when it was set, False
    where the C library is not glibc (musl, macOS), which is left as it is. Resident memory
    then stays at its peak; over changing shapes see :class:`ReleaseOnNewShape`."""
    libc = _glibc()
    if libc is None:
        return False
    for parameter, value in SETTINGS.items():
        if libc.mallopt(parameter, value) != 1:
            raise OSError(f"glibc mallopt({parameter}, {value}) refused the setting")
    import jax  # JAX reads it at each call, also when set after a first computation

    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return True


def heap_in_use() -> int | None:
    """Bytes that glibc's malloc has handed out and not had back (``mallinfo2``'s
    ``uordblks``, blocks served by ``mmap`` aside), None where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return None
    return libc.mallinfo2().uordblks


def kept() -> bool:
    """Whether glibc's malloc keeps freed memory in this process (as :func:`keep_freed_memory`
    sets it), read back from malloc itself: a block of ``PROBE_BYTES``, allocated (never
    touched, so no page is faulted in) and freed, came from the heap rather than a mapping of
    its own (``mallinfo2``'s ``hblks`` unchanged) and the heap was not trimmed when it was
    freed (``arena`` not smaller). False where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    before = libc.mallinfo2()
    block = libc.malloc(PROBE_BYTES)
    if not block:
        raise MemoryError(f"malloc({PROBE_BYTES}) failed")
    allocated = libc.mallinfo2()
    libc.free(block)
    freed = libc.mallinfo2()
    return allocated.hblks == before.hblks and freed.arena >= allocated.arena


def release_freed_memory() -> None:
    """Hand the free memory of malloc's heaps back to the system (glibc's ``malloc_trim``: the
    heap's top is cut, free pages inside it are dropped and faulted in again when used)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def release_if_kept() -> None:
    """:func:`release_freed_memory` where freed memory is kept, else nothing (glibc's default
    already returns large blocks, and that default is left as it is)."""
    if kept():
        release_freed_memory()


class ReleaseOnNewShape:
    """Called with each step's batch shape, before the step: releases the free memory
    (:func:`release_if_kept`) when the shape differs from the last step's. ``release()``
    does it unconditionally (after work of other shapes: validation, checkpoints)."""

    def __init__(self, release=release_if_kept):
        self._release, self.shape = release, None

    def __call__(self, shape: tuple[int, ...]) -> None:
        if self.shape is not None and tuple(shape) != self.shape:
            self._release()
        self.shape = tuple(shape)

    def release(self) -> None:
        self._release()
        self.shape = None
