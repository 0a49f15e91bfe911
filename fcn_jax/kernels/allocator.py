"""Keep the memory a training step frees inside the process, for the next step to reuse.

A CPU training step allocates gigabytes of buffers and frees them. glibc's malloc serves
each buffer above 32 MiB with a fresh ``mmap`` and returns it with ``munmap`` when it is
freed, and it trims freed memory off its heaps, so every step faults all its pages in again:
576,796 page faults and 1.12 s of kernel time per step of FCN-8s at 500x500 alone, more right
after another framework's step on the same cores
(``python -m benchmarks.investigations.freed_memory``; README, Performance). With freed
memory kept, the pages are faulted in once and reused (no
faults per step after that); compiling takes 15-25% longer, as LLVM's threads then share one
heap.

This is a process-wide setting, so it is made at the edge (``fcn-jax train``, the
benchmark's worker for this library), never on import. Kept memory was thought to have one
cost: when the batch shape changes, the next step's buffers may not fit the holes the last
shape left, and the heap grows (FCN-8s at 500x500, 500x384, 384x500, 500x500: 8.3 GB resident
against 4.4 GB with glibc's default while JAX dispatched CPU calls asynchronously; 4.1 GB
against 4.1 GB since, so that growth was mostly the race described below). The training
loop gives the free memory back whenever the shape changes and after each validation
(:class:`ReleaseOnNewShape`), and ``fcn-jax train`` keeps freed memory only where crops give
every batch one shape (``config.keep_freed_memory='auto'``); both were decided on the
asynchronous measurements and are left as they are until a longer mix of shapes is measured.

Kept memory also makes JAX's CPU runtime run each call to its end before returning
(``jax_cpu_enable_async_dispatch`` off). Dispatched asynchronously, a step's outputs were
ready a moment before the runtime freed its temporaries; a next step dispatched in that
moment took a second block of temporaries from the top of the heap, and kept memory never
gave the first back: FCN-8s at 500x500 grew from 3.9 to 5.8 GB resident after a few steps in
about half the runs, and in a width-1/8 net at 128x128 11 of 40 steps returned with their
42 MiB of temporaries still held (none of 40 with the setting; ``heap_in_use``).
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


def _glibc():
    """The C library, where it is glibc (whose settings this module makes), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


_kept = {"freed memory": False}  # mirrors the process-wide glibc setting made below


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
    import jax  # JAX reads it at each call (set after a first computation too: 0 of 30 held)

    jax.config.update("jax_cpu_enable_async_dispatch", False)
    _kept["freed memory"] = True
    return True


def heap_in_use() -> int | None:
    """Bytes that glibc's malloc has handed out and not had back (``mallinfo2``'s
    ``uordblks``, blocks served by ``mmap`` aside), None where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return None
    libc.mallinfo2.restype = _MallInfo2
    return libc.mallinfo2().uordblks


def kept() -> bool:
    """Whether :func:`keep_freed_memory` has taken effect in this process."""
    return _kept["freed memory"]


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
