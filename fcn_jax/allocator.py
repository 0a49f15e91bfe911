"""Keep the memory a training step frees inside the process, for the next step to reuse.

A CPU training step allocates gigabytes of buffers and frees them. glibc's malloc serves
each buffer above 32 MiB with a fresh ``mmap`` and returns it with ``munmap`` when it is
freed, and it trims freed memory off its heaps, so every step faults all its pages in again:
329,000 page faults per step of FCN-8s at 256x256, 0.6-0.7 s of kernel time alone and
2.4-2.5 s right after another framework's step on the same 2 cores (README, Performance).
With freed memory kept, the pages are faulted in once, by the first step.

This is a process-wide setting, so it is made at the edge (``fcn-jax train``, the
benchmark's worker for this library), never on import.
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


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep what is freed for reuse (see the module docstring); True when
    it was set, False where the C library is not glibc (musl, macOS), which is left as it is.
    The process's resident memory then stays at its peak; the peak itself does not grow
    (``python -m benchmarks.memory`` measures it)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    for parameter, value in SETTINGS.items():
        if libc.mallopt(parameter, value) != 1:
            raise OSError(f"glibc mallopt({parameter}, {value}) refused the setting")
    return True
