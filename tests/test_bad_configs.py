"""Every bad config value is refused before any work, in one line naming the field and what is
allowed; a resumed run keeps its history (config_history.jsonl, metrics.jsonl with each step
once)."""

import json
from pathlib import Path

import pytest
from tiny_run import tiny_flags

from fcn_jax import cli
from fcn_jax.cli.config_check import SCHEMA, check_config, flat
from fcn_jax.default_config import get_config
from fcn_jax.train.runlog import RunLog, describe_changes, record_config
from fcn_jax.viz import learning_series

ARCHS = ("fcn32s, fcn16s, fcn8s, fcn8s-atonce, fcn-alexnet, fcn32s-googlenet, fcn16s-googlenet, "
         "fcn8s-googlenet, fcn-resnet50, fcn-resnet101")  # fmt: skip
REFUSED = [
    ("--config.arch=fcn4s", f"config.arch='fcn4s': must be one of {ARCHS}"),
    ("--config.dataset=coco", "config.dataset='coco': must be one of 'synthetic', 'voc2012', "
     "'voc2011', 'sbd', 'voc_sbd', 'pascal_context', 'siftflow', 'nyud' or 'folder:PATH'"),
    ("--config.dataset=folder:", "config.dataset='folder:': must be one of 'synthetic', "
     "'voc2012', 'voc2011', 'sbd', 'voc_sbd', 'pascal_context', 'siftflow', 'nyud' or "
     "'folder:PATH'"),
    ("--config.optimizer.name=rmsprop", "config.optimizer.name='rmsprop': must be one of 'sgd', "
     "'adam'"),
    ("--config.optimizer.lr_schedule=step", "config.optimizer.lr_schedule='step': must be one of "
     "'fixed', 'poly'"),
    ("--config.align=center", "config.align='center': must be one of 'caffe', 'same'"),
    ("--config.dtype=float16", "config.dtype='float16': must be one of 'float32', 'bfloat16'"),
    ("--config.parallel=spmd", "config.parallel='spmd': must be one of 'sharding', 'pmap'"),
    ("--config.kernels=fast", "config.kernels='fast': must be one of 'auto', 'xla'"),
    ("--config.sampling=once", "config.sampling='once': must be one of 'replacement', 'epochs'"),
    ("--config.loss.normalize=max", "config.loss.normalize='max': must be one of 'sum', 'mean'"),
    ("--config.batch_size=0", "config.batch_size=0: must be an integer >= 1"),
    ("--config.batch_size=-3", "config.batch_size=-3: must be an integer >= 1"),
    ("--config.eval_every=0", "config.eval_every=0: must be an integer >= 1"),
    ("--config.checkpoint_every=0", "config.checkpoint_every=0: must be an integer >= 1"),
    ("--config.log_every=0", "config.log_every=0: must be an integer >= 1"),
    ("--config.crop_size=-5", "config.crop_size=-5: must be an integer >= 0"),
    ("--config.total_steps=-5", "config.total_steps=-5: must be an integer >= 1"),
    ("--config.total_steps=0", "config.total_steps=0: must be an integer >= 1"),
    ("--config.width=0.0", "config.width=0.0: must be a number > 0"),
    ("--config.image_sizes=(64,0)", "config.image_sizes=(64, 0): must be a tuple of one or more "
     "numbers, each an integer >= 1"),
    ("--config.optimizer.learning_rate=-0.1", "config.optimizer.learning_rate=-0.1: must be a "
     "number > 0"),
    ("--config.optimizer.momentum=1.0", "config.optimizer.momentum=1.0: must be a number in "
     "[0, 1)"),
    ("--config.optimizer.accumulate_steps=0", "config.optimizer.accumulate_steps=0: must be an "
     "integer >= 1"),
    ("--config.loss.keep_rate=1.5", "config.loss.keep_rate=1.5: must be a number in (0, 1], or "
     "None"),
    ("--config.loss.class_weights=(1.0,-2.0)", "config.loss.class_weights=(1.0, -2.0): must be a "
     "tuple of one or more numbers, each a number >= 0, or None"),
    ("--config.augment_scale=(2.0,0.5)", "config.augment_scale=(2.0, 0.5): must be in increasing "
     "order (a tuple of 2 numbers, each a number > 0), or None"),
    ("--config.keep_freed_memory=yes", "config.keep_freed_memory='yes': must be one of 'auto', "
     "'on', 'off'"),
    ("--config.init_from=/no/such/run", "config.init_from='/no/such/run': '/no/such/run' is no "
     "file or directory (a training workdir, fcn-jax convert's DIR, or an .npz)"),
    ("--config.init_from=tests|/no/hha", "config.init_from='tests|/no/hha': '/no/hha' is no file "
     "or directory (a training workdir, fcn-jax convert's DIR, or an .npz)"),
    ("--config.num_devices=16", "config.num_devices=16: 8 devices here"),
    ("--config.batch_sise=4", "--config.batch_sise: no such config field; did you mean "
     "--config.batch_size?"),
    ("--config.optimizer.nme=sgd", "--config.optimizer.nme: no such config field; did you mean "
     "--config.optimizer.name?"),
    ("--config=/no/such/config.py", "--config /no/such/config.py: no such file"),
]  # fmt: skip


@pytest.mark.parametrize(("option", "message"), REFUSED, ids=[o for o, _ in REFUSED])
def test_a_bad_value_is_one_line_before_the_workdir_exists(option, message, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as refused:
        cli.main(["train", option, "--workdir", str(run)])
    assert refused.value.code == f"fcn-jax train: {message}"
    assert not run.exists()


def test_the_schema_names_every_default_field_and_every_shipped_config_meets_it():
    assert set(flat(get_config())) == set(SCHEMA)
    for path in sorted(Path(__file__).parent.parent.glob("experiments/configs/*.py")):
        check_config(cli.load_config([f"--config={path}"]))


def test_a_config_file_with_an_unknown_field_or_a_wrong_type_is_one_line(tmp_path):
    for line, message in [
        ("config.learning_rate = 0.1", "config.learning_rate: no such field; did you mean "
         "config.optimizer.learning_rate?"),
        ("config.batch_size = 8.5", "TypeError: Could not override field 'batch_size'"),
        ("config.batch_size = (", "'(' was never closed (bad.py, line 6)"),
        ("config.flip = 1", "TypeError: Could not override field 'flip'"),
        ("config.loss.class_weights = ('1', '2')", "config.loss.class_weights=('1', '2'): must be "
         "a tuple of one or more numbers, each a number >= 0, or None"),
    ]:  # fmt: skip
        path = tmp_path / "bad.py"
        body = f"def get_config():\n    config = base()\n    {line}\n    return config\n"
        path.write_text(f"from fcn_jax.default_config import get_config as base\n\n\n{body}")
        with pytest.raises(SystemExit) as refused:
            cli.main(["train", f"--config={path}", "--workdir", str(tmp_path / "run")])
        said = refused.value.code
        assert "\n" not in said
        assert said == f"fcn-jax train: {message}" or said.startswith(
            f"fcn-jax train: --config {path}: {message}"
        )
        assert not (tmp_path / "run").exists()


def test_class_weights_not_one_per_class_are_refused_before_compiling(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        cli.main(
            ["train", "--config.loss.class_weights=(1.0,2.0)", "--workdir", str(tmp_path / "r")]
        )
    assert refused.value.code == (
        "fcn-jax train: config.loss.class_weights has 2 weights; "
        "dataset 'synthetic' has 6 classes: give one weight per class"
    )
    assert not (tmp_path / "r").exists()  # refused before the workdir was made


def test_eval_refuses_a_bad_or_missing_config_json(tmp_path):
    with pytest.raises(SystemExit) as refused:
        cli.training.saved_config(tmp_path, ("dataset", "num_val"))
    assert refused.value.code.startswith(f"fcn-jax eval: {tmp_path / 'config.json'}: ")
    assert "\n" not in refused.value.code
    (tmp_path / "config.json").write_text(json.dumps({"dataset": "synthetic", "num_val": 0}))
    with pytest.raises(SystemExit) as refused:
        cli.training.saved_config(tmp_path, ("dataset", "num_val"))
    assert refused.value.code == (f"fcn-jax eval: {tmp_path / 'config.json'}: config.num_val=0: "
                                  "must be an integer >= 1")  # fmt: skip


def rows(workdir) -> list[tuple[int, str]]:
    return [(r["step"], r["split"]) for r in map(json.loads, (workdir / "metrics.jsonl").open())]


def test_a_resumed_log_keeps_each_step_once(tmp_path):
    written = [{"step": s, "split": "train", "loss": 1.0 / s} for s in range(1, 9)]
    written.insert(4, {"step": 4, "split": "val", "mean_iu": 0.25})
    text = "".join(json.dumps(r) + "\n" for r in written) + '{"step": 9, "spl'  # torn by a kill
    (tmp_path / "metrics.jsonl").write_text(text)
    log = RunLog(tmp_path, resumed_at=4)
    assert rows(tmp_path) == [(1, "train"), (2, "train"), (3, "train"), (4, "train"), (4, "val")]
    assert learning_series(map(json.loads, (tmp_path / "metrics.jsonl").open()))[
        ("train", "loss")
    ] == ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25])
    log.write(4, "val", {"mean_iu": 0.5})  # validation done again at the resumed step
    log.write(5, "train", {"loss": 0.2})
    log.close()
    assert rows(tmp_path) == [(1, "train"), (2, "train"), (3, "train"), (4, "train"), (4, "val"),
                              (5, "train")]  # fmt: skip
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[4])["mean_iu"] == 0.5
    assert learning_series(map(json.loads, (tmp_path / "metrics.jsonl").open()))[
        ("val", "mean_iu")
    ] == ([4], [0.5])


def test_every_start_is_appended_to_the_config_history(tmp_path):
    first = get_config()
    assert record_config(tmp_path, first.to_json(indent=2), 0) == {}
    assert (tmp_path / "config.json").read_text() == first.to_json(indent=2)
    line_one = (tmp_path / "config_history.jsonl").read_text()
    second = get_config()
    second.optimizer.learning_rate, second.total_steps = 1e-2, 2400
    changed = record_config(tmp_path, second.to_json(indent=2), 1200)
    assert changed == {"optimizer.learning_rate": [1e-3, 1e-2], "total_steps": [1200, 2400]}
    assert describe_changes(changed) == ("config changed since the last start: "
                                         "optimizer.learning_rate 0.001 -> 0.01, "
                                         "total_steps 1200 -> 2400")  # fmt: skip
    history = (tmp_path / "config_history.jsonl").read_text()
    assert history.startswith(line_one)
    starts = [json.loads(line) for line in history.splitlines()]
    assert [s["step"] for s in starts] == [0, 1200]
    assert starts[0]["config"] == json.loads(first.to_json())
    assert (tmp_path / "config.json").read_text() == second.to_json(indent=2)


def test_a_run_from_before_the_history_keeps_its_first_config(tmp_path):
    old = get_config()
    (tmp_path / "config.json").write_text(old.to_json(indent=2))
    new = get_config()
    new.batch_size = 4
    assert record_config(tmp_path, new.to_json(indent=2), 400) == {"batch_size": [8, 4]}
    starts = [json.loads(line) for line in (tmp_path / "config_history.jsonl").open()]
    assert [s["config"]["batch_size"] for s in starts] == [8, 4]


@pytest.mark.slow
def test_a_resumed_run_records_what_changed_and_logs_each_step_once(tmp_path, capsys):
    run = str(tmp_path)
    assert cli.main(["train", *tiny_flags(), "--workdir", run]) == 0
    # what a kill -9 after step 4's checkpoint leaves: rows of steps done again after resuming
    with (tmp_path / "metrics.jsonl").open("a") as log:
        for step in (5, 6):
            log.write(json.dumps({"step": step, "split": "train", "loss": 9.0}) + "\n")
    capsys.readouterr()
    flags = tiny_flags(total_steps=6, **{"optimizer.learning_rate": 0.01})
    assert cli.main(["train", *flags, "--workdir", run]) == 0
    out = capsys.readouterr().out
    assert ("config changed since the last start: optimizer.learning_rate 0.001 -> 0.01, "
            "total_steps 4 -> 6") in out.splitlines()  # fmt: skip
    logged = rows(tmp_path)
    assert len(logged) == len(set(logged))
    assert [s for s, split in logged if split == "train"] == [1, 2, 3, 4, 5, 6]
    assert [s for s, split in logged if split == "val"] == [2, 4, 6]
    starts = [json.loads(line) for line in (tmp_path / "config_history.jsonl").open()]
    assert [s["step"] for s in starts] == [0, 4]
    assert json.loads((tmp_path / "config.json").read_text())["total_steps"] == 6
