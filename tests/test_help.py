"""Help that answers: every config field with its default and meaning in ``fcn-jax train
--help`` and ``fcn-jax config``, no JAX imported to say so, and ``fcn-jax data info`` / ``data
prepare`` saying what is there and, when nothing is, the exact command that prepares it."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from test_prepared import fake_voc

from fcn_jax import cli
from fcn_jax.default_config import get_config, groups
from fcn_jax.names import ARCHS

BUILT = ("voc2012", "voc2011", "sbd", "voc_sbd", "pascal_context", "siftflow", "nyud")
# What each dataset's manual directory must hold: the official archives' names (their sites)
ARCHIVES = {
    "voc2012": ["VOCtrainval_11-May-2012.tar"],
    "voc2011": ["VOCtrainval_25-May-2011.tar"],
    "sbd": ["benchmark.tgz"],
    "voc_sbd": ["benchmark.tgz", "VOCtrainval_25-May-2011.tar"],
    "pascal_context": ["trainval.tar.gz", "VOCtrainval_03-May-2010.tar"],
    "siftflow": ["SiftFlowDataset.zip"],
    "nyud": ["data/images/", "segmentation/", "train.txt"],
}


def config_fields() -> dict:
    """``{'batch_size': 8, 'optimizer.name': 'adam', ...}``: get_config()'s own values."""
    out = {}
    for key, value in get_config().to_dict().items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def help_of(capsys, *command) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.parser().parse_args([*command, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_train_help_lists_every_field_with_its_default_and_a_meaning(capsys):
    text = help_of(capsys, "train")
    meanings = {name: meaning for _, fields in groups() for name, _, meaning in fields}
    for field, value in config_fields().items():
        assert meanings.get(field, "").strip(), f"config.{field} has no meaning"
        shown = repr(tuple(value) if isinstance(value, list) else value)
        # the field's row: its name, its default as Python writes it, the meaning's first words
        start = re.escape(meanings[field][:12])
        row = rf"^  {re.escape(field)}\s+(\n\s+)?{re.escape(shown)}\s+{start}"
        assert re.search(row, text, re.MULTILINE), f"config.{field}={shown} not in the help"


def test_config_lines_fit_in_100_columns_and_json_carries_the_defaults(capsys):
    assert cli.main(["config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert cli.main(["config", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in config_fields().items()}
    assert {field: entry["default"] for field, entry in shown.items()} == expected
    assert shown["optimizer.name"]["group"].startswith("optimizer")


def test_config_of_overrides_marks_what_is_not_the_default(capsys):
    assert cli.main(["config", "--config.batch_size=3", "--config.optimizer.name=sgd"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^  batch_size\s+\*3\s+images per step.*\(default 8\)", text, re.MULTILINE)
    assert re.search(r"^  optimizer\.name\s+\*'sgd'\s+.*\(default 'adam'\)", text, re.MULTILINE)
    assert re.search(r"^  seed\s+0\s+", text, re.MULTILINE)  # unchanged: no mark
    with pytest.raises(SystemExit) as stop:
        cli.main(["config", "--config.batch_sise=3"])
    assert str(stop.value.code).startswith("fcn-jax config: --config.batch_sise: no such")


@pytest.mark.parametrize("command", ["train", "config"])
def test_a_stray_argument_is_refused_not_ignored(command, capsys):
    with pytest.raises(SystemExit) as stop:  # for train: before any work, JAX or config
        cli.main([command, "--config.seed=1", "voc_fcn8s.py"])
    assert stop.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("fcn-jax: error: unrecognized arguments: voc_fcn8s.py (config")


def test_top_level_help_is_for_users(capsys):
    text = help_of(capsys)
    assert "nowhere below" not in text  # the developer's note it used to show
    for command in ("train", "config", "eval", "predict", "convert", "geometry", "data info"):
        assert re.search(rf"^  fcn-jax {command}\b", text, re.MULTILINE), command
    from fcn_jax.models import ARCHS as built  # the names module is the models' own tuple

    assert built is ARCHS


@pytest.mark.slow
def test_help_imports_no_jax():
    code = (
        "import sys\n"
        "from fcn_jax.cli import main, parser\n"
        "parser()\n"
        "for argv in (['--help'], ['train', '--help'], ['config']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax', 'optax'))\n"
        "assert not heavy, heavy[:5]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_data_info_synthetic_shows_its_splits_and_classes(capsys):
    assert cli.main(["data", "info", "synthetic"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "synthetic: train 2000, val 100"  # the config's num_train, num_val
    assert lines[1].startswith("6 classes: background, blob, ")


def test_data_info_folder_counts_a_made_up_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for i in range(10):  # every 10th id (sorted) is validation: 9 train, 1 val
        Image.fromarray(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(
            tmp_path / "images" / f"{i:02d}.png"
        )
        labels = np.full((6, 7), i % 3, np.uint8)
        Image.fromarray(labels, mode="L").save(tmp_path / "masks" / f"{i:02d}.png")
    assert cli.main(["data", "info", f"folder:{tmp_path}"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"folder:{tmp_path}: train 9, val 1",
        "3 classes: 0, 1, 2",
    ]


@pytest.mark.parametrize("name", BUILT)
def test_unprepared_datasets_give_the_exact_prepare_command(name, tmp_path):
    data_dir = tmp_path / "tfds"
    with pytest.raises(SystemExit) as stop:
        cli.main(["data", "info", name, "--data-dir", str(data_dir)])
    message = str(stop.value.code)
    assert "\n" not in message
    assert message.startswith(f"fcn-jax data info: dataset {name!r} is not prepared in {data_dir}")
    assert f"`fcn-jax data prepare {name} --manual-dir DIR --data-dir {data_dir}`" in message
    for archive in ARCHIVES[name]:
        assert archive in message


def test_an_unprepared_default_data_dir_gives_the_command_without_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        cli.main(["data", "info", "siftflow"])
    assert "`fcn-jax data prepare siftflow --manual-dir DIR`, DIR holding" in str(stop.value.code)


def test_prepare_says_what_it_builds_and_writes_and_not_downloading(tmp_path, capsys):
    fake_voc(tmp_path / "manual")
    data_dir = tmp_path / "data"
    args = ["data", "prepare", "voc2012", "--manual-dir", str(tmp_path / "manual"),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(args) == 0
    said = capsys.readouterr()
    assert "Downloading" not in said.out + said.err and "downloaded and prepared" not in said.out
    assert said.err == ""  # no progress bars off a terminal
    lines = said.out.splitlines()
    assert lines[0].startswith(f"building voc2012 from {tmp_path / 'manual'} "
                               "(VOCtrainval_11-May-2012.tar, or what it extracts to)")  # fmt: skip
    assert re.fullmatch(
        rf"wrote voc2012 to {re.escape(str(data_dir / 'voc2012' / '1.0.0'))} in [\d.]+ s: "
        r"train 2, val 1, 21 classes",  # fake_voc's 2 + 1 ids; VOC's 21 classes
        lines[1],
    )
    assert len(lines) == 2
    assert cli.main(args) == 0  # a second time: nothing is rebuilt
    assert capsys.readouterr().out.startswith("voc2012 is already prepared in ")
