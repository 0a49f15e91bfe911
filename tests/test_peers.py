"""The peers of ``benchmarks.run``: the paired ratios to each peer and to the best (hand
values), logits agreement, a failure's one line, the table's cells, a worker's returned logits,
and the ONNX export run by ONNX Runtime against the torch net it came from."""

import functools

import numpy as np
import pytest

from benchmarks.versus import agreement, best_peer, one_line, ratio_text, versus


def test_ratios_to_each_peer_and_to_the_best_by_hand():
    samples = {
        "jax": [1.0, 2.0, 1.0],
        "slow": [1.5, 3.2, 1.4],  # per round 1.5, 1.6, 1.4: median 1.5
        "fast": [0.9, 1.8, 1.1],  # 0.9, 0.9, 1.1: median 0.9; its median time 1.1 is the best
        "absent": None,  # failed or not run: no ratio, never the best
    }
    result = versus(samples, "jax", ["slow", "fast", "absent"])
    assert result["vs"]["slow"] == pytest.approx({"median": 1.5, "low": 1.4, "high": 1.6})
    assert result["vs"]["fast"] == pytest.approx({"median": 0.9, "low": 0.9, "high": 1.1})
    assert "absent" not in result["vs"]
    assert result["best"] == "fast" and result["vs_best"] == result["vs"]["fast"]
    assert ratio_text(result["vs_best"]) == "0.90x (0.90-1.10)"
    assert versus(samples, "jax", ["absent"]) == {"vs": {}, "best": None, "vs_best": None}
    assert best_peer({"a": [3.0, 1.0, 2.0], "b": [2.5, 2.5, 0.1]}, ["a", "b"]) == "a"  # 2 < 2.5


def test_agreement_is_relative_to_our_largest_logit_across_layouts():
    ours = np.zeros((1, 2, 3, 4), np.float32)  # NHWC
    ours[0, 1, 2, 3], ours[0, 0, 0, 0] = -10.0, 4.0
    theirs = ours.transpose(0, 3, 1, 2).copy()  # the same logits, NCHW
    assert agreement(ours, theirs) == 0
    theirs[0, 2, 1, 0] += 0.001  # channel 2 at (1, 0): 0.001 against a largest |logit| of 10
    assert agreement(ours, theirs) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="shape"):
        agreement(ours, theirs[:, :, :1])


def test_a_failure_is_the_exception_line_of_its_traceback():
    error = RuntimeError(
        "peer_worker('compile', 128, 128): in the worker process:\n"
        "Traceback (most recent call last):\n  File 'x.py', line 1, in f\n    raise exc.Bad\n"
        "torch._inductor.exc.InductorError: InvalidCxxCompiler: No working C++ compiler\n\n"
        "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace (please do this especially if"
        ' you\'re reporting a bug to PyTorch). For more, set TORCH_LOGS="+dynamo"\n'
    )  # as torch.compile's error ends, hint after the exception
    why = "torch._inductor.exc.InductorError: InvalidCxxCompiler: No working C++ compiler"
    assert one_line(error) == why
    assert one_line("Traceback (most recent call last):\n  File 'y.py'\nKeyError\n") == "KeyError"
    assert one_line("worker ended (exit code -9)") == "worker ended (exit code -9)"  # no name
    assert one_line("x" * 300) == "x" * 197 + "..."
    assert one_line("") == "no message"


def test_the_table_has_a_column_per_peer_and_its_notes():
    from benchmarks.run import table

    def row(ours: float) -> dict:
        samples = {"jax_infer": [ours] * 3, "jax_train": [3 * ours] * 3,
                   "eager_infer": [1.5 * ours] * 3, "onnxruntime_infer": [0.95 * ours] * 3,
                   "eager_train": [3 * 1.8 * ours] * 3}  # fmt: skip
        result = {"size": 500, "allocator": "neither", "peers": ["eager", "compile", "onnxruntime"],
                  "seconds": {k: v[0] for k, v in samples.items()},
                  "failed": {"compile_infer": "InductorError: no compiler",
                             "compile_train": "InductorError: no compiler"},
                  "agreement": {"eager": 2e-7, "onnxruntime": 3e-4}}  # fmt: skip
        for task in ("infer", "train"):
            named = {p: samples.get(f"{p}_{task}") for p in result["peers"]}
            result[task] = versus(named | {"jax": samples[f"jax_{task}"]}, "jax", result["peers"])
            result |= {f"jax_{task}_gflops": 100.0, f"jax_{task}_of_peak": 0.5}
        return result

    on_gpu = table({"speed": [row(0.002)], "peak": {"peak": 200.0}})
    assert "| ours (ms) | PyTorch eager (ms) | torch.compile (ms) | ONNX Runtime (ms) |" in on_gpu
    # infer: eager 1.5x, compile failed, ONNX Runtime the best at 0.95x of our time
    assert (
        "| 2.000 | 3.000 (1.50x) | failed | 1.900 (0.95x) | 0.95x (0.95-0.95) ONNX Runtime |"
        in on_gpu
    )
    # train: ONNX Runtime does not train; eager is the best peer left
    assert "| 6.000 | 10.800 (1.80x) | failed | - | 1.80x (1.80-1.80) PyTorch eager |" in on_gpu
    assert "PyTorch eager 2.0e-07, ONNX Runtime 3.0e-04 DISAGREES" in on_gpu
    assert "torch.compile train at 500 (neither) failed: InductorError: no compiler" in on_gpu
    on_cpu = table({"speed": [row(1.09)], "peak": {"peak": 200.0}})
    assert "| ours (s) |" in on_cpu and "| 1.090 | 1.635 (1.50x) |" in on_cpu


def test_a_worker_hands_back_what_a_call_returns():
    from benchmarks.isolated import Isolated

    with Isolated(dict, count=functools.partial(np.arange, 3)) as remote:
        assert remote["count"].value().tolist() == [0, 1, 2]


def test_the_onnx_export_runs_in_onnx_runtime_as_in_torch():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    from benchmarks.peers import exported, onnx_session, torch_fcn

    net = torch_fcn().reference_net("fcn8s", 5, 1 / 16)  # every weight random and non-zero
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 36)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = onnx_session(exported(net, torch.from_numpy(x)), threads=1).run(None, {"image": x})[0]
    assert got.shape == expected.shape == (1, 5, 40, 36)
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))
