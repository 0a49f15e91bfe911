"""The benchmarks' machinery: the FLOP count (by hand for one layer, and against XLA's own
count), the layer swaps, the alternating samples and their paired ratios (with contenders
that report their own seconds: no test sleeps or asserts on wall time), contenders run in worker
processes, and the investigations' readers (``benchmarks/investigations/``)."""

import functools
import json
import os

import jax
import numpy as np
import pytest

from benchmarks.flops import forward_flops, layer_costs, train_flops, xla_flops
from benchmarks.timing import alternating_samples, paired_ratios
from fcn_jax.models import build


def test_layer_flops_by_hand():
    model = build("fcn32s", 5, align="caffe", width=1 / 16)  # conv1_1: 3 -> 4 channels
    costs = {name: flops for name, _, flops in layer_costs(model, (1, 64, 64, 3))}
    # conv1_1: 3x3, pad 100: a 262x262 output, 2 * 9 * 3 * 4 FLOPs per cell
    assert costs["conv1_1"] == 2 * 262 * 262 * 9 * 3 * 4
    # upscore: 64x64 kernel, 5 -> 5 classes, per input cell of score_fr's map
    assert costs["upscore"] % (2 * 64 * 64 * 5 * 5) == 0


def test_forward_flops_agree_with_xla():
    # The count is a direct convolution's on the whole canvas: XLA counts the same only for
    # its own convolutions (the "xla" kernels), not Winograd's (fewer multiplications, in band
    # loops XLA counts once) nor the zero-margin framing (fewer cells).
    model = build("fcn8s", 21, align="caffe", width=1 / 8, kernels="xla")
    shape = (1, 96, 96, 3)
    params = jax.eval_shape(model.init, jax.random.key(0), np.zeros(shape, np.float32))
    lowered = jax.jit(model.apply).lower(params, jax.ShapeDtypeStruct(shape, np.float32))
    ours, xla = forward_flops(model, shape), xla_flops(lowered.compile())
    # XLA adds bias adds, ReLUs and pooling but leaves out products with conv1_1's 100 pixels
    # of zero padding: within 10% either way
    assert 0.9 * ours <= xla <= 1.1 * ours, (ours, xla)
    assert 2.5 * ours < train_flops(model, shape, False) < 3 * ours


def test_breakdown_library_forms_compute_our_layers():
    # The breakdown swaps our layer forms for the library's; the swap is only a fair timing if
    # both compute the same thing: the textbook deconvolution (dilated input, flipped kernel)
    # against our phase convolutions, and the window reduction against our tiled pool.
    import jax.numpy as jnp

    from benchmarks.investigations.breakdown import library_deconv, library_pool
    from fcn_jax.models.layers import MaxPool, transposed_conv

    rng = np.random.default_rng(0)
    for k, s, pad, size in [(4, 2, 0, 5), (16, 8, 0, 3), (3, 2, 1, 4)]:
        x = jnp.asarray(rng.standard_normal((1, size, size + 1, 3)), jnp.float32)
        kernel = jnp.asarray(rng.standard_normal((k, k, 3, 2)), jnp.float32)
        ours, lib = transposed_conv(x, kernel, s, pad), library_deconv(x, kernel, s, pad)
        height, width = s * (size - 1) + k - 2 * pad, s * size + k - 2 * pad
        assert ours.shape == lib.shape == (1, height, width, 2)
        np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
    x = jnp.asarray(rng.standard_normal((1, 7, 6, 2)), jnp.float32)
    pool = MaxPool(2, 2)
    np.testing.assert_array_equal(pool.apply({}, x), library_pool(pool, x))


class Fake:
    """A contender that takes ``seconds`` a call by its own account (``timed``, as a worker
    process's contender reports it) and logs every call: no wall time is read."""

    def __init__(self, name: str, seconds: float, log: list):
        self.name, self.seconds, self.log = name, seconds, log

    def __call__(self) -> None:
        self.log.append(self.name)

    def timed(self, calls: int) -> float:
        self.log.append((self.name, calls))
        return self.seconds * calls


def test_samples_alternate_by_round_after_warm_up_and_settling(monkeypatch):
    from benchmarks import timing

    log, naps = [], []
    monkeypatch.setattr(timing.time, "sleep", naps.append)
    contenders = {"ours": Fake("ours", 0.08, log), "theirs": Fake("theirs", 0.5, log)}
    samples = alternating_samples(contenders, repeats=3, settle=0.25)
    # by hand: a 0.2 s sample is ceil(0.2 / 0.08) = 3 calls of ours, 1 of theirs (0.5 s)
    warm_up = ["ours", ("ours", 1), "theirs", ("theirs", 1)]
    assert log == warm_up + [("ours", 3), ("theirs", 1)] * 3  # every round i before i + 1
    assert samples == {"ours": [pytest.approx(0.08)] * 3, "theirs": [0.5] * 3}
    assert naps == [0.25] * 6  # before every sample


def test_paired_ratios_cancel_a_drift_common_to_each_round():
    drift = [1.0, 1.6, 0.7, 1.3, 2.0]  # a shared machine running each round at its own speed
    theirs, ours = [1.5 * d for d in drift], [1.0 * d for d in drift]
    theirs[2] *= 1.2  # one round where only theirs was disturbed
    ratios = paired_ratios(theirs, ours)
    assert ratios == pytest.approx({"median": 1.5, "low": 1.5, "high": 1.8})
    with pytest.raises(ValueError):
        paired_ratios([1.0, 2.0], [1.0])


def test_pointwise_layers_are_read_off_the_nets():
    from benchmarks.investigations.pointwise import pointwise_layers

    # by hand: 500 + 2*100 padding, conv1-5 with five 2x2 pools (ceil) -> 22; fc6 7x7 -> 16
    fcn8s = pointwise_layers("fcn8s", 500)
    assert fcn8s[(16, 4096, 4096, 1)] == "fc7"
    assert fcn8s[(44, 512, 21, 1)] == "score_pool4"  # pool4: 698 / 16 rounded up
    # ResNet-50 at 384: stem and pool take it to 96; res3a's shortcut halves it, stride 2
    resnet = pointwise_layers("fcn-resnet50", 384)
    assert resnet[(96, 256, 512, 2)] == "res3a_branch1"
    assert all(side in (96, 48) for side, *_ in resnet)  # dilated from stage 4 on: no 24s


def test_isolated_contenders_run_in_their_own_process(tmp_path):
    from benchmarks.isolated import Isolated

    log = tmp_path / "calls"
    # dict(...) is built in the worker: its contenders run there and write the worker's pid
    with Isolated(dict, note=functools.partial(note_pid, log)) as remote:
        assert sorted(remote) == ["note"]
        remote["note"]()
        seconds = remote["note"].timed(3)  # 3 back-to-back calls, timed by the worker
        worker = remote["note"].worker.process
        assert worker.is_alive()
    pids = log.read_text().split()
    assert pids == [str(worker.pid)] * 4 and worker.pid != os.getpid()
    assert isinstance(seconds, float) and seconds >= 0
    assert not worker.is_alive()


def note_pid(path) -> None:
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")


def test_a_sample_lasts_at_least_a_fifth_of_a_second():
    from benchmarks.timing import calls_per_sample

    # by hand: ceil(0.2 / 0.03) = 7 calls; a call over 0.2 s is one sample by itself
    assert calls_per_sample(Fake("fast", 0.03, [])) == 7
    assert calls_per_sample(Fake("slow", 1.3, [])) == 1
    assert calls_per_sample(Fake("instant", 0.0, [])) > 100_000  # no division by zero


def test_importing_the_benchmarks_sets_no_environment_variable():
    import subprocess
    import sys

    from benchmarks.preallocation import VARIABLE

    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    code = f"import os, benchmarks.run, benchmarks.archs; print(os.environ.get({VARIABLE!r}))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "None", done.stderr


def test_preallocation_is_turned_off_unless_the_caller_chose(monkeypatch):
    from benchmarks.preallocation import VARIABLE, share_the_accelerator

    monkeypatch.delenv(VARIABLE, raising=False)
    share_the_accelerator()
    assert os.environ[VARIABLE] == "false"
    monkeypatch.setenv(VARIABLE, "true")
    share_the_accelerator()
    assert os.environ[VARIABLE] == "true"


def test_isolated_reports_the_workers_error():
    from benchmarks.isolated import Isolated

    with pytest.raises(RuntimeError, match="invalid literal for int"):
        Isolated(int, "not a number")
    # os.rmdir() without a path: a TypeError in the worker, which stays up for the next call
    with Isolated(dict, fail=os.rmdir, pid=os.getpid) as remote:
        with pytest.raises(RuntimeError, match="TypeError"):
            remote["fail"]()
        remote["pid"]()  # answered: the worker is still up
        assert remote["pid"].worker.process.is_alive()


def test_kernel_times_sum_each_device_timeline_and_skip_the_host(tmp_path):
    from jax.profiler import ProfileData

    from benchmarks.investigations.kernels import device_events

    # a trace as the GPU runtime writes it: a device plane with one stream's kernels (two
    # launches of one kernel, the first naming its layer) and a host plane to leave out
    text = """
    planes { id: 1 name: "/device:GPU:0"
      lines { id: 1 name: "Stream #1"
        events { metadata_id: 1 offset_ps: 0 duration_ps: 2000000
                 stats { metadata_id: 9 str_value: "fc6" } }
        events { metadata_id: 1 offset_ps: 3000000 duration_ps: 1000000 }
        events { metadata_id: 2 offset_ps: 5000000 duration_ps: 500000 } }
      event_metadata { key: 1 value { id: 1 name: "gemm" } }
      event_metadata { key: 2 value { id: 2 name: "transpose" } }
      stat_metadata { key: 9 value { id: 9 name: "name" } } }
    planes { id: 2 name: "/host:CPU"
      lines { id: 1 name: "python" events { metadata_id: 1 duration_ps: 9000000 } }
      event_metadata { key: 1 value { id: 1 name: "gemm" } } }
    """
    (tmp_path / "host.xplane.pb").write_bytes(ProfileData.text_proto_to_serialized_xspace(text))
    totals, stats = device_events(str(tmp_path))
    assert totals == {"/device:GPU:0 Stream #1": {"gemm": 3000.0, "transpose": 500.0}}  # ns
    assert stats["gemm"] == {"name": "fc6"}


@pytest.mark.slow
def test_archs_keeps_the_rows_of_a_run_stopped_part_way(tmp_path, monkeypatch):
    from benchmarks import archs

    measure = archs.measure

    def stop_at_alexnet(arch, *args, **kwargs):
        if arch == "fcn-alexnet":
            raise KeyboardInterrupt  # a time limit, after the first net
        return measure(arch, *args, **kwargs)

    monkeypatch.setattr(archs, "keep_freed_memory", lambda: False)  # a process-wide setting
    monkeypatch.setattr(archs, "measure", stop_at_alexnet)
    monkeypatch.setattr(archs, "timed", lambda fn, calls: 0.004 * calls)  # 4 ms a call
    out = tmp_path / "archs.json"
    with pytest.raises(KeyboardInterrupt):
        archs.main(["--archs", "fcn32s", "fcn-alexnet", "--size", "32", "--width", "0.03125",
                    "--repeats", "1", "--peak", "100", "--out", str(out)])  # fmt: skip
    (row,) = json.loads(out.read_text())["rows"]  # the first net's, written before the stop
    assert row["arch"] == "fcn32s"
    for task in ("infer", "train"):  # by hand: 4 ms a call is 250 images/s
        assert row[f"{task}_ms"] == pytest.approx(4.0)
        assert row[f"{task}_images_per_s"] == pytest.approx(250.0)


@pytest.mark.slow
def test_freed_memory_runs_each_setting_in_a_process_of_its_own(tmp_path):
    """Every setting in a fresh process, every shape a row; with freed memory kept a shape's
    steps reuse pages instead of faulting in fresh ones, and this process keeps glibc's
    default."""
    from benchmarks.investigations import freed_memory
    from fcn_jax.kernels import allocator

    out = tmp_path / "freed.json"
    freed_memory.main(["--arch", "fcn32s", "--shapes", "96x96", "64x96", "--steps", "2",
                       "--settings", "default", "kept", "--channels", "0.125",
                       "--out", str(out)])  # fmt: skip
    results = json.loads(out.read_text())
    assert [r["setting"] for r in results] == ["default", "kept"]
    for result in results:
        assert [row["shape"] for row in result["shapes"]] == ["96x96", "64x96"]
        assert all(len(row["step_s"]) == 2 for row in result["shapes"])
    # the heap may still grow at one shape (a step's blocks no longer fit the holes), not at both
    default, kept = (min(row["faults_per_step"] for row in r["shapes"]) for r in results)
    assert kept * 10 < default, (kept, default)  # 0, 32 against 10,555, 11,834 in two runs
    assert not allocator.kept()


def test_run_keeps_the_parts_of_a_stopped_run_and_the_last_whole_file(tmp_path, monkeypatch):
    from benchmarks import run

    def speed(size, repeats, dtype, peak, allocator, *args):
        if size == 256:
            raise KeyboardInterrupt  # a time limit, after the first size
        return {"size": size, "allocator": allocator, "seconds": {"jax_infer": 1.5}}

    monkeypatch.setattr(run, "matmul_peak", lambda: {"peak": 200.0})
    monkeypatch.setattr(run, "reference_weights", lambda path: path)  # no full-width net
    monkeypatch.setattr(run, "speed", speed)
    out = tmp_path / "results.json"
    out.write_text('{"the": "last whole run"}')
    with pytest.raises(KeyboardInterrupt):
        run.main(["--sizes", "500", "256", "--out", str(out)])
    assert json.loads(out.read_text()) == {"the": "last whole run"}
    kept = json.loads((tmp_path / "results.json.partial").read_text())
    assert kept["peak"] == {"peak": 200.0}
    # every allocator setting of the first size: the headline (glibc's default), then the extra
    assert [(row["size"], row["allocator"]) for row in kept["speed"]] == [
        (500, "neither"),
        (500, "both"),
    ]
