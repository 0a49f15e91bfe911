"""Every experiment config loads, documents itself, and fails clearly without its dataset."""

import re
from pathlib import Path

import pytest

from fcn_jax import cli

CONFIGS = sorted(Path(__file__).parent.parent.glob("experiments/configs/*.py"))
SHARED = ("total_steps", "eval_every", "checkpoint_every", "batch_size", "seed")


def test_one_config_per_reference_net():
    names = {p.stem for p in CONFIGS}
    assert {"voc_fcn32s", "voc_fcn16s", "voc_fcn8s", "voc_fcn8s_atonce", "voc_fcn_alexnet"} <= names
    assert {"nyud_color", "nyud_hha", "nyud_early_fusion", "nyud_late_fusion"} <= names
    assert {f"siftflow_fcn{s}" for s in ("32s", "16s", "8s")} <= names
    assert {f"pascal_context_fcn{s}" for s in ("32s", "16s", "8s")} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_with_overrides_and_documents_itself(path):
    config = cli.load_config([f"--config={path}", "--config.total_steps=7"])
    assert config.total_steps == 7
    assert all(key in config for key in SHARED)
    doc = path.read_text().split('"""')[1]
    assert f"--config experiments/configs/{path.name}" in doc
    if path.stem != "default":
        assert "Init:" in doc and "Solver:" in doc and "Aims at:" in doc


@pytest.mark.parametrize(
    "name",
    [
        "voc_fcn8s",
        "nyud_color",
        "nyud_hha",
        "nyud_early_fusion",
        "nyud_late_fusion",
        "pascal_context_fcn32s",
        "siftflow_fcn16s",
    ],
)
def test_missing_dataset_is_a_clear_message(name, tmp_path):
    data_dir = f"--config.data_dir={tmp_path / 'data'}"
    command = (
        rf"`fcn-jax data prepare \w+ --manual-dir DIR --data-dir {re.escape(str(tmp_path))}/data`"
    )
    with pytest.raises(SystemExit, match=rf"not prepared.*: run {command}, DIR holding "):
        cli.main(["train", f"--config=experiments/configs/{name}.py", data_dir,
                  "--workdir", str(tmp_path / "run")])  # fmt: skip


def test_unknown_inputs_and_tasks_are_refused(tmp_path):
    for option in ("--config.input=rgbd", "--config.tasks=('semantic','depth')"):
        with pytest.raises(SystemExit, match=r"config\.(input|tasks)="):
            cli.main(["train", option, "--workdir", str(tmp_path)])


def test_bad_override_is_a_clear_message():
    with pytest.raises(SystemExit, match="total_step"):
        cli.load_config(["--config.total_step=3"])
