"""``fcn_jax.kernels.allocator``: with freed memory kept, a buffer freed and allocated again is not
faulted in again (what spares a CPU training step its page faults); released memory leaves the
process; the training loop releases only when the batch shape changes and memory is kept."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from fcn_jax.kernels import allocator

GLIBC = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)

# The child's set-up: transparent huge pages off for it (a host set to 'always' would serve a
# buffer with 2 MiB pages, 512x fewer faults), and a malloc/free taking 64-bit sizes.
PROLOGUE = """
import ctypes, os, resource, sys, threading
from fcn_jax.kernels.allocator import keep_freed_memory, release_freed_memory
libc = ctypes.CDLL("libc.so.6")
libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def fill_and_free(size):
    buffer = libc.malloc(size)
    assert buffer, "malloc failed"
    ctypes.memset(buffer, 1, size)
    libc.free(buffer)
"""

# Allocate, fill and free a buffer of argv[2] MiB four times, each time in a new thread (as
# XLA's worker threads do), and print the page faults of the last three rounds.
ROUNDS = (
    PROLOGUE
    + """
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def round_():
    thread = threading.Thread(target=fill_and_free, args=(int(sys.argv[2]) << 20,))
    thread.start()
    thread.join()
round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
)

# With freed memory kept, fill and free 512 MiB, then release it; print the resident MiB after
# the free and after the release (from /proc/self/statm).
RELEASE = (
    PROLOGUE
    + """
assert keep_freed_memory()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
fill_and_free(512 << 20)
kept = resident()
release_freed_memory()
print(kept, resident())
"""
)

# Read kept() back, make glibc's settings by argv[1] ('keep': keep_freed_memory; 'mallopt': no
# mmap of its own for any block, never trim, straight from <malloc.h>'s numbers; 'default':
# none), read it again, fill and free 512 MiB, let the loop release; print both readings, the
# loop's calls of release_freed_memory and the resident MiB it gave back.
KEPT = (
    PROLOGUE
    + """
from fcn_jax.kernels import allocator
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
before = allocator.kept()
if sys.argv[1] == "keep":
    assert keep_freed_memory()
elif sys.argv[1] == "mallopt":
    assert libc.mallopt(-4, 0) == libc.mallopt(-1, -1) == 1  # M_MMAP_MAX, M_TRIM_THRESHOLD
after = allocator.kept()
calls = []
def recording():
    calls.append(True)
    release_freed_memory()
allocator.release_freed_memory = recording
fill_and_free(512 << 20)
held = resident()
allocator.ReleaseOnNewShape().release()
print(before, after, len(calls), held - resident())
"""
)


# Keep freed memory, then run 20 training steps of a width-1/8 FCN-8s at 128x128 and print how
# many returned with the heap still holding more than half of the step's temporaries.
STEPS = """
import jax
from fcn_jax.kernels.allocator import heap_in_use, keep_freed_memory
assert keep_freed_memory()
from benchmarks.contenders import jax_parts
parts = jax_parts(128, 128, channels=0.125)
state, batch, step = parts["state"], jax.device_put(parts["batch"]), parts["train_step"]
temp = step.step.lower(state, batch).compile().memory_analysis().temp_size_in_bytes
state = jax.block_until_ready(step(state, batch))[0]
held = 0
for _ in range(20):
    before = heap_in_use()
    state = jax.block_until_ready(step(state, batch))[0]
    held += heap_in_use() - before > temp / 2
print(held, temp)
"""


def child(code: str, *args: str) -> str:
    """Run ``code`` in a fresh Python with this checkout first on its path and no
    ``GLIBC_TUNABLES`` of the caller's; its output."""
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=root, check=True)  # fmt: skip
    return done.stdout


def faults_of_three_rounds(mode: str, mib: int) -> int:
    return int(child(ROUNDS, mode, str(mib)).split()[-1])


@GLIBC
def test_freed_buffers_are_reused_without_page_faults():
    pages = 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert faults_of_three_rounds("default", 64) > 3 * pages * 0.9  # mapped afresh each time
    # the first round's pages are reused, by every thread, also past 2 GiB, where glibc's
    # largest trim threshold short of "never" (2**31 - 1 bytes) would still hand them back (a
    # step at 500x500 frees more than that)
    assert faults_of_three_rounds("keep", 2560) < 1_000


@GLIBC
def test_released_memory_leaves_the_process():
    kept, released = map(int, child(RELEASE).split())
    assert kept - released > 500  # MiB: the freed buffer was resident, and no longer is


def test_other_c_libraries_are_left_as_they_are(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: pytest.fail("libc opened"))
    assert allocator.keep_freed_memory() is False


def test_memory_is_released_when_the_step_shape_changes():
    released = []
    on_new_shape = allocator.ReleaseOnNewShape(release=lambda: released.append(True))
    for shape in [(8, 128, 128, 3), (8, 128, 128, 3), (8, 96, 128, 3), (8, 96, 128, 3)]:
        on_new_shape(shape)
    assert len(released) == 1  # only the change from 128x128 to 96x128
    on_new_shape.release()  # after a validation: and the next step, whatever its shape, reuses
    on_new_shape((8, 96, 128, 3))
    assert len(released) == 2


@GLIBC
@pytest.mark.parametrize("setting", ["default", "keep", "mallopt"])
def test_kept_is_read_back_from_glibc_and_the_loop_releases_only_then(setting):
    # glibc's settings made by keep_freed_memory, or by mallopt directly, or not at all
    before, after, calls, released = child(KEPT, setting).split()
    kept = setting != "default"
    assert (before, after) == ("False", str(kept))
    assert int(calls) == kept  # glibc's default, which already returns large blocks, is left
    if kept:
        assert int(released) > 500  # MiB: the freed buffer was resident, and no longer is


def test_auto_keeps_freed_memory_only_when_crops_fix_the_batch_shape():
    from fcn_jax.cli.training import keeps_freed_memory

    assert keeps_freed_memory("auto", 480) and not keeps_freed_memory("auto", 0)
    assert keeps_freed_memory("on", 0) and not keeps_freed_memory("off", 480)
    with pytest.raises(SystemExit, match=r"config\.keep_freed_memory must be .* got 'yes'"):
        keeps_freed_memory("yes", 0)


@pytest.mark.slow
@GLIBC
def test_a_step_returns_with_its_temporaries_freed_where_freed_memory_is_kept():
    # dispatched asynchronously, 11 of 40 such steps returned before the runtime had freed
    # them, and a next step then took a second block that kept memory never gave back
    held, temp = map(int, child(STEPS).split())
    assert temp > 10 * 2**20  # the step has temporaries worth measuring (42 MiB)
    assert held == 0
