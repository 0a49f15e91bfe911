"""``fcn_jax.allocator.keep_freed_memory``: a buffer freed and allocated again is not faulted
in again, which is what spares a CPU training step its page faults."""

import subprocess
import sys

import pytest

from fcn_jax import allocator

# Allocate, fill and free a buffer of argv[2] MiB four times, and print the page faults of the
# last three rounds: a buffer faulted in afresh costs MiB * 256 (4 KiB pages).
ROUNDS = """
import ctypes, resource, sys
from fcn_jax.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = int(sys.argv[2]) << 20
def round_():
    buffer = libc.malloc(size)
    assert buffer, "malloc failed"
    ctypes.memset(buffer, 1, size)
    libc.free(buffer)
round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_of_three_rounds(mode: str, mib: int) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no GLIBC_TUNABLES from the caller
    done = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode, str(mib)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_freed_buffers_are_reused_without_page_faults():
    assert faults_of_three_rounds("default", 64) > 3 * 64 * 256 * 0.9  # mapped afresh each time
    # the first round's pages are reused, also past 2 GiB, where glibc's largest trim threshold
    # short of "never" (2**31 - 1 bytes) would still hand them back (a step at 500x500 frees
    # more than that)
    assert faults_of_three_rounds("keep", 2560) < 1_000


def test_other_c_libraries_are_left_as_they_are(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: pytest.fail("libc opened"))
    assert allocator.keep_freed_memory() is False
