"""Damaged checkpoints and failed saves (issue 23): a step whose arrays differ from their
checksums, or whose files cannot be read, is refused by name (eval, predict) or passed over
(train, which resumes from the newest intact step); a save that fails stops the run in one line
and leaves no temporary directory; checkpoints written before checksums still restore."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image
from tiny_run import tiny_config, tiny_flags

from fcn_jax.cli import main
from fcn_jax.train.checkpoint import CheckpointError, Checkpoints, restore_params
from fcn_jax.train.loop import train_and_evaluate

pytestmark = pytest.mark.slow  # every test copies the tiny trained run


def digest(directory) -> dict:
    """{relative path: sha256} of every file under ``directory``."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def largest_array_file(step_dir):
    files = (step_dir / "state" / "ocdbt.process_0" / "d").iterdir()
    return max(files, key=lambda p: p.stat().st_size)


def raw_state(step_dir) -> dict:
    """The state's arrays as Orbax reads them, without any check of ours."""
    return ocp.StandardCheckpointer().restore(step_dir / "state")


def leaf_names(tree, prefix="") -> dict:
    if isinstance(tree, dict):
        return {n: x for k, v in tree.items() for n, x in leaf_names(v, f"{prefix}{k}/").items()}
    return {prefix[:-1]: np.asarray(tree)}


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the tiny run (steps 2 and 4) to damage."""
    shutil.copytree(trained[0], tmp_path / "run")
    return tmp_path / "run"


def write_junk(step_dir) -> list[str]:
    """0xff bytes over 64 bytes of the largest array file, which still decodes (to NaN where the
    bytes are raw float32; to other values where they are not); the params it changed, found by
    comparing what Orbax reads before and after."""
    before = leaf_names(raw_state(step_dir)["params"], "params/")
    target = largest_array_file(step_dir)
    data = bytearray(target.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = b"\xff" * 64
    target.write_bytes(bytes(data))
    after = leaf_names(raw_state(step_dir)["params"], "params/")
    changed = [n for n in before if before[n].tobytes() != after[n].tobytes()]
    assert changed  # Orbax alone would hand these values over as if nothing had happened
    return changed


def test_eval_refuses_junk_in_an_array_file_naming_the_step_and_the_array(run):
    checkpoints = run / "checkpoints"
    changed = write_junk(checkpoints / "4")
    before = digest(run)
    with pytest.raises(SystemExit) as refused:
        main(["eval", "--workdir", str(run), "--checkpoint", "4"])
    assert str(refused.value) == (
        f"fcn-jax eval: checkpoint step 4 in {checkpoints} is damaged: arrays "
        f"{', '.join(changed)} differ from their checksums; intact checkpoints: [2]"
    )
    assert digest(run) == before  # nothing written, nothing moved
    main(["eval", "--workdir", str(run), "--checkpoint", "2"])  # the intact step still evaluates


def test_predict_refuses_a_truncated_array_file(run, tmp_path):
    target = largest_array_file(run / "checkpoints" / "4")
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as refused:
        main(["predict", "--workdir", str(run), "--checkpoint", "4", str(image), "--out", str(out)])
    assert str(refused.value) == (
        f"fcn-jax predict: checkpoint step 4 in {run / 'checkpoints'} is damaged: its state "
        "arrays (files truncated or garbled) cannot be read; intact checkpoints: [2]"
    )
    assert not out.exists()


def test_eval_refuses_a_garbled_metadata_file(run):
    metadata = run / "checkpoints" / "4" / "state" / "_METADATA"
    data = bytearray(metadata.read_bytes())
    data[100:200] = b"x" * 100
    metadata.write_bytes(bytes(data))
    with pytest.raises(SystemExit) as refused:
        main(["eval", "--workdir", str(run)])  # latest: step 4
    assert str(refused.value) == (
        f"fcn-jax eval: checkpoint step 4 in {run / 'checkpoints'} is damaged: its "
        "state/_METADATA (the arrays' shapes) cannot be read; intact checkpoints: [2]"
    )


def test_train_resumes_from_the_newest_intact_step_and_sets_the_damaged_one_aside(run, capsys):
    checkpoints = run / "checkpoints"
    changed = write_junk(checkpoints / "4")
    damaged = digest(checkpoints / "4")
    train_and_evaluate(tiny_config(total_steps=6), run)
    printed = capsys.readouterr().out.splitlines()
    assert (
        f"checkpoint step 4 in {checkpoints} is damaged: arrays {', '.join(changed)} differ "
        f"from their checksums; set aside as {checkpoints / '4.damaged'}; resuming from step 2"
    ) in printed
    assert f"resumed from step 2 in {run}" in printed
    assert digest(checkpoints / "4.damaged") == damaged  # kept, byte for byte
    assert Checkpoints(checkpoints, read_only=True).steps() == [2, 4, 6]
    restore_params(run, 4)  # written again, and verified


def test_train_refuses_when_no_step_is_intact(run):
    checkpoints = run / "checkpoints"
    for step in ("2", "4"):
        target = largest_array_file(checkpoints / step)
        target.write_bytes(target.read_bytes()[:100])
    before = digest(run)
    with pytest.raises(CheckpointError) as refused:
        train_and_evaluate(tiny_config(total_steps=6), run)
    message = str(refused.value)
    assert message.startswith(f"no intact checkpoint in {checkpoints}: checkpoint step 4 in ")
    assert "checkpoint step 2 in" in message
    assert message.endswith("Use a new --workdir (the damaged steps are left as they are)")
    assert "\n" not in message
    assert digest(run) == before


def test_checkpoints_without_checksums_restore_as_before_with_one_note(run, trained, capsys):
    for step in ("2", "4"):
        shutil.rmtree(run / "checkpoints" / step / "checksums")
    checkpoints = Checkpoints(run / "checkpoints", read_only=True)
    for step in (2, 4, 4):
        restored = checkpoints.restore_params(step)
        expected = restore_params(trained[0], step)
        assert leaf_names(restored).keys() == leaf_names(expected).keys()
        for name, value in leaf_names(expected).items():
            np.testing.assert_array_equal(leaf_names(restored)[name], value)
    note = (
        f"checkpoint step 2 in {run / 'checkpoints'} has no checksums (written before they were "
        "saved): restored unverified"
    )
    assert capsys.readouterr().err.splitlines().count(note) == 1


def test_a_failed_save_stops_training_in_one_line_and_leaves_no_temporary_directory(run):
    checkpoints = run / "checkpoints"
    before = {step: digest(checkpoints / step) for step in ("2", "4")}
    # Files may not grow past 64 KB from here on (the params alone are ~400 KB): the save of
    # step 6 fails the way a full disk does. Validation is due at step 8.
    script = """
        import resource, signal, sys
        from fcn_jax.cli import main
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))
        sys.exit(main(sys.argv[1:]))
    """
    flags = tiny_flags(total_steps=12, eval_every=8, compilation_cache=False)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), "train", "--workdir", str(run), *flags],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        check=False,
    )
    message = (
        f"fcn-jax train: saving the checkpoint of step 6 in {checkpoints} failed (File too "
        "large). Checkpoints [2, 4] are intact."
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == message, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert not [r for r in records if r["split"] == "val" and r["step"] > 4]  # no validation
    assert sorted(p.name for p in checkpoints.iterdir()) == ["2", "4"]  # no *.orbax-checkpoint-tmp
    assert {step: digest(checkpoints / step) for step in ("2", "4")} == before
