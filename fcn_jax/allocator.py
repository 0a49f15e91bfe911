"""Keep the memory a training step frees inside the process, for the next step to reuse.

A CPU training step allocates gigabytes of buffers and frees them. glibc's malloc serves
each buffer above 32 MiB with a fresh ``mmap`` and returns it with ``munmap`` when it is
freed, and it trims freed memory off its heaps, so every step faults all its pages in again:
329,000 page faults per step of FCN-8s at 256x256, 0.6-0.7 s of kernel time alone and
2.4-2.5 s right after another framework's step on the same 2 cores (README, Performance).
With freed memory kept, the pages are faulted in once, by the first step.

This is a process-wide setting, so it is made at the edge (``fcn-jax train``, the
benchmark's worker for this library), never on import. Kept memory has one cost: when the
batch shape changes, the next step's buffers do not fit the holes the last shape left and the
heap grows (FCN-8s at 500x500, then 500x384 and 384x500, then 500x500 again: resident memory
4.2 -> 5.8 -> 10.3 GB). The training loop therefore gives the free memory back whenever the
shape changes and after each validation (:class:`ReleaseOnNewShape`), so steps of one shape
reuse their pages and resident memory stays near one step's peak.
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


def _glibc():
    """The C library, where it is glibc (whose settings this module makes), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL("libc.so.6")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep what is freed for reuse (see the module docstring); True when
    it was set, False where the C library is not glibc (musl, macOS), which is left as it is.
    Resident memory then stays at its peak; over steps of one shape the peak does not grow
    (``python -m benchmarks.memory``), over changing shapes see :class:`ReleaseOnNewShape`."""
    libc = _glibc()
    if libc is None:
        return False
    for parameter, value in SETTINGS.items():
        if libc.mallopt(parameter, value) != 1:
            raise OSError(f"glibc mallopt({parameter}, {value}) refused the setting")
    return True


def release_freed_memory() -> None:
    """Hand the free pages of malloc's heaps back to the system (glibc's ``malloc_trim``); the
    memory stays the heap's, to be faulted in again when it is used."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class ReleaseOnNewShape:
    """Called with each step's batch shape, before the step: releases the free memory
    (:func:`release_freed_memory`) when the shape differs from the last step's. ``release()``
    does it unconditionally (after work of other shapes: validation, checkpoints)."""

    def __init__(self, release=release_freed_memory):
        self._release, self.shape = release, None

    def __call__(self, shape: tuple[int, ...]) -> None:
        if self.shape is not None and tuple(shape) != self.shape:
            self._release()
        self.shape = tuple(shape)

    def release(self) -> None:
        self._release()
        self.shape = None
