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


# Allocate, fill and free a 512 MiB buffer with freed memory kept, then release it; print the
# resident MiB after the free and after the release (from /proc/self/statm, 4 KiB pages).
RELEASE = """
import ctypes, os
from fcn_jax.allocator import keep_freed_memory, release_freed_memory
assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
buffer = libc.malloc(512 << 20)
ctypes.memset(buffer, 1, 512 << 20)
libc.free(buffer)
kept = resident()
release_freed_memory()
print(kept, resident())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_released_memory_leaves_the_process():
    done = subprocess.run([sys.executable, "-c", RELEASE], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, check=True)  # fmt: skip
    kept, released = map(int, done.stdout.split())
    assert kept - released > 500  # MiB: the freed buffer was resident, and no longer is


def test_memory_is_released_when_the_step_shape_changes():
    released = []
    on_new_shape = allocator.ReleaseOnNewShape(release=lambda: released.append(True))
    for shape in [(8, 128, 128, 3), (8, 128, 128, 3), (8, 96, 128, 3), (8, 96, 128, 3)]:
        on_new_shape(shape)
    assert len(released) == 1  # only the change from 128x128 to 96x128
    on_new_shape.release()  # after a validation: and the next step, whatever its shape, reuses
    on_new_shape((8, 96, 128, 3))
    assert len(released) == 2


def test_auto_keeps_freed_memory_only_when_crops_fix_the_batch_shape():
    from fcn_jax.cli.training import keeps_freed_memory

    assert keeps_freed_memory("auto", 480) and not keeps_freed_memory("auto", 0)
    assert keeps_freed_memory("on", 0) and not keeps_freed_memory("off", 480)
    with pytest.raises(SystemExit, match=r"config\.keep_freed_memory must be .* got 'yes'"):
        keeps_freed_memory("yes", 0)
