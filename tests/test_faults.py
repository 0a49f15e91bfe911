"""Faults a long run must survive: a scheduler's SIGTERM, Ctrl-C, SIGKILL at any moment (also
in the middle of an asynchronous save), a full disk, an unwritable workdir, a changed config."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from tiny_run import fcn_jax, tiny_config, tiny_flags

from fcn_jax.train.checkpoint import CheckpointError, Checkpoints, restore_params
from fcn_jax.train.loop import train_and_evaluate


def wait_for_step(workdir, step: int, process, timeout: float = 300) -> None:
    """Block until ``metrics.jsonl`` records a training step >= ``step``."""
    deadline = time.time() + timeout
    metrics = workdir / "metrics.jsonl"
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()
        if metrics.exists():
            steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
            if steps and max(steps) >= step:
                return
        time.sleep(0.05)
    raise TimeoutError(f"no step {step} in {metrics}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_training_with_a_checkpoint(tmp_path, signum):
    flags = tiny_flags(total_steps=1000, checkpoint_every=1000, eval_every=1000)
    run = fcn_jax("train", "--workdir", str(tmp_path), *flags, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)  # fmt: skip
    wait_for_step(tmp_path, 2, run)
    run.send_signal(signum)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert f"{name} received: stopped after step" in err and "Traceback" not in err, err
    stopped = int(err.split("stopped after step ")[1].split(",")[0])
    assert Checkpoints(tmp_path / "checkpoints", read_only=True).steps() == [stopped]
    assert list((tmp_path / "xla_cache").iterdir())  # the restart below loads, not recompiles
    train_and_evaluate(tiny_config(total_steps=stopped + 1), tmp_path)  # and it resumes
    assert Checkpoints(tmp_path / "checkpoints", read_only=True).steps()[-1] == stopped + 1


@pytest.mark.slow
def test_sigterm_during_set_up_is_one_line_and_143(trained, tmp_path):
    # A run resuming from the tiny run's checkpoints is stopped while it opens the dataset and
    # restores, before any step: exit 143, one line, the checkpoints byte for byte as they were.
    reference, _ = trained
    shutil.copytree(reference / "checkpoints", tmp_path / "checkpoints")
    before = {p: p.read_bytes() for p in (tmp_path / "checkpoints").rglob("*") if p.is_file()}
    run = fcn_jax("train", "--workdir", str(tmp_path), *tiny_flags(total_steps=8),
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert run.stdout.readline().startswith("workdir:")  # printed as the set-up begins
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        f"fcn-jax train: SIGTERM received outside the training steps: stopped; the checkpoints "
        f"in {tmp_path} are as they were"
    )
    assert "Traceback" not in err
    after = {p: p.read_bytes() for p in (tmp_path / "checkpoints").rglob("*") if p.is_file()}
    assert after == before


def test_sigkill_mid_save_leaves_the_last_complete_checkpoint(tmp_path):
    script = f"""
        import os, signal, numpy as np
        from fcn_jax.train.checkpoint import Checkpoints
        state = {{"w": np.random.default_rng(0).normal(size=(2000, 2000)).astype(np.float32)}}
        first = Checkpoints({str(tmp_path)!r})
        first.save(1, state, {{"arch": "x"}})
        first.close()
        second = Checkpoints({str(tmp_path)!r})
        second.save(2, {{"w": state["w"] + 1}}, {{"arch": "x"}})  # returns while writing
        os.kill(os.getpid(), signal.SIGKILL)
    """
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=False)
    assert killed.returncode == -signal.SIGKILL
    partial = [p.name for p in tmp_path.iterdir() if p.name.startswith("2")]
    assert partial and "2" not in partial, partial  # the kill came in the middle of step 2
    checkpoints = Checkpoints(tmp_path)
    assert checkpoints.steps() == [1]
    expected = np.random.default_rng(0).normal(size=(2000, 2000)).astype(np.float32)
    restored = checkpoints.restore(1, {"w": np.zeros_like(expected)})
    np.testing.assert_array_equal(restored["w"], expected)
    checkpoints.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("2")]  # cleaned up


@pytest.mark.slow
def test_a_run_killed_at_any_moment_resumes_to_the_same_parameters(trained, tmp_path):
    reference, _ = trained  # the same run, never interrupted
    flags = tiny_flags(checkpoint_every=1)
    run = fcn_jax("train", "--workdir", str(tmp_path), *flags, stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_step(tmp_path, 3, run)  # saves of steps 1-3 were started, some may be running
    run.kill()
    run.wait()
    steps = Checkpoints(tmp_path / "checkpoints", read_only=True).steps()
    assert steps and max(steps) < 4
    train_and_evaluate(tiny_config(checkpoint_every=1), tmp_path)
    jax.tree.map(np.testing.assert_array_equal, restore_params(tmp_path), restore_params(reference))


@pytest.mark.slow
def test_a_full_disk_at_save_time_is_a_clear_error_and_loses_nothing(trained, tmp_path):
    workdir, _ = trained
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    before = restore_params(run, 4)
    # Files may not grow past 64 KB from here on (the params alone are ~400 KB): the next
    # save fails the way a full disk does.
    script = f"""
        import resource, signal
        from fcn_jax.train.checkpoint import CheckpointError
        from fcn_jax.train.loop import train_and_evaluate
        from tiny_run import tiny_config
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))
        try:
            train_and_evaluate(tiny_config(total_steps=6), {str(run)!r})
        except CheckpointError as err:
            print("CheckpointError:", err)
    """
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert "CheckpointError: saving the checkpoint of step 6" in done.stdout, done.stderr[-3000:]
    assert "Checkpoints [2, 4] are intact" in done.stdout
    assert Checkpoints(run / "checkpoints", read_only=True).steps() == [2, 4]
    jax.tree.map(np.testing.assert_array_equal, restore_params(run, 4), before)


def test_an_unwritable_workdir_fails_before_training(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(CheckpointError, match=r"cannot write to .*file/run/checkpoints"):
        train_and_evaluate(tiny_config(), tmp_path / "file" / "run")


def test_resuming_with_another_batch_size_is_refused(trained, tmp_path):
    workdir, _ = trained
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    with pytest.raises(ValueError, match=r"batch_size=2; resuming with config.batch_size=4"):
        train_and_evaluate(tiny_config(total_steps=6, batch_size=4), run)


LONG_VALIDATION = {"num_val": 3000, "eval_every": 2}  # seconds of validation after step 2


@pytest.fixture(scope="module")
def long_validation_run(tmp_path_factory):
    """(workdir, final scores) of the tiny run with a long validation, two steps, never
    interrupted."""
    workdir = tmp_path_factory.mktemp("long_validation")
    config = tiny_config(total_steps=2, checkpoint_every=2, **LONG_VALIDATION)
    return workdir, train_and_evaluate(config, workdir)


def signalled_after_step_2(workdir, signals: list, gap: float = 0.5, **overrides):
    """The tiny run with a long validation at step 2, sent ``signals`` ``gap`` s apart once
    step 2 has trained (its validation is under way); (return code, stderr)."""
    flags = tiny_flags(**{"total_steps": 1000, "checkpoint_every": 1000, **LONG_VALIDATION,
                          **overrides})  # fmt: skip
    run = fcn_jax("train", "--workdir", str(workdir), *flags, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)  # fmt: skip
    wait_for_step(workdir, 2, run)
    for signum in signals:
        time.sleep(gap)
        if run.poll() is None:
            run.send_signal(signum)
    _, err = run.communicate(timeout=120)
    return run.returncode, err


def stopped_line(signum, step: int, workdir) -> str:
    return (f"fcn-jax train: {signal.Signals(signum).name} received: stopped after step {step}, "
            f"checkpoint saved in {workdir}; run the same command again to resume")  # fmt: skip


def rows(workdir, split: str) -> list[int]:
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [row["step"] for row in map(json.loads, lines) if row["split"] == split]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_validation_stops_it_and_checkpoints_the_step(
    long_validation_run, tmp_path, signum
):
    returncode, err = signalled_after_step_2(tmp_path, [signum])
    assert returncode == 128 + signum, err
    assert err.splitlines() == [stopped_line(signum, 2, tmp_path)]
    assert rows(tmp_path, "val") == []  # cut short, not waited for
    assert Checkpoints(tmp_path / "checkpoints", read_only=True).steps() == [2]
    reference, _ = long_validation_run  # the same net (another schedule: total_steps)
    shapes = jax.tree.map(np.shape, restore_params(reference, 2))
    assert jax.tree.map(np.shape, restore_params(tmp_path, 2)) == shapes


@pytest.mark.slow
def test_repeated_ctrl_c_while_stopping_neither_crashes_nor_loses_the_checkpoint(tmp_path):
    # in the validation, then in the save and the exit that follow it
    returncode, err = signalled_after_step_2(tmp_path, [signal.SIGINT] * 4, gap=0.4)
    assert returncode == 130, err  # not 139 (a segfault), not 1 (a KeyboardInterrupt)
    assert err.splitlines() == [stopped_line(signal.SIGINT, 2, tmp_path)]
    assert Checkpoints(tmp_path / "checkpoints", read_only=True).steps() == [2]
    assert restore_params(tmp_path, 2)


@pytest.mark.slow
def test_a_signal_during_the_final_validation_keeps_the_last_step(long_validation_run, tmp_path):
    overrides = {**LONG_VALIDATION, "total_steps": 2, "checkpoint_every": 2}
    returncode, err = signalled_after_step_2(tmp_path, [signal.SIGTERM], **overrides)
    assert returncode == 143, err
    assert err.splitlines() == [stopped_line(signal.SIGTERM, 2, tmp_path)]
    assert Checkpoints(tmp_path / "checkpoints", read_only=True).steps() == [2]
    assert not (tmp_path / "final_metrics.json").exists() and rows(tmp_path, "val") == []
    result = train_and_evaluate(tiny_config(**overrides), tmp_path)  # the same command again
    reference, uninterrupted = long_validation_run  # the same run, never interrupted
    assert rows(tmp_path, "val") == [2] and result == uninterrupted
    jax.tree.map(np.testing.assert_array_equal, restore_params(tmp_path, 2),
                 restore_params(reference, 2))  # fmt: skip
    assert json.loads((tmp_path / "final_metrics.json").read_text()) == result
