"""The `fcn-jax geometry` command."""

import json
import subprocess
import sys

import pytest
from PIL import Image
from reference_offsets import OFFSETS

from fcn_jax import cli
from fcn_jax.geometry import Trace


def run_json(capsys, *args):
    assert cli.main(["geometry", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_gives_the_reference_crops_and_every_layers_geometry(capsys):
    # The figures themselves (Table 1's fields, every net's crops) are test_geometry.py's; here
    # the command's JSON carries them: FCN-16s's reference crops, and score_fr's row
    table = run_json(capsys, "fcn16s")
    assert table["crops"] == OFFSETS["fcn16s"]
    row = next(r for r in table["layers"] if r["name"] == "score_fr")
    assert (row["receptive_field"], row["jump"]) == (404, 32)  # Table 1's VGG16 figures
    assert {"kernel", "stride", "pad", "offset", "size"} <= set(row)


def test_same_alignment_table(capsys):
    table = run_json(capsys, "fcn8s", "--align", "same", "--size", "100", "64")
    assert table["input_size"] == [100, 64]
    assert table["layers"][-1]["size"] == [100, 64]
    assert table["layers"][-1]["offset"] == 0


def test_text_table_lists_every_layer(capsys):
    assert cli.main(["geometry", "fcn16s", "--size", "64"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0]
    names = [line.split()[0] for line in table.splitlines()[2:]]
    assert names[:2] == ["conv1_1", "relu1_1"]
    assert names[-7:] == [
        "score_fr",
        "upscore2",
        "score_pool4",
        "score_pool4c",
        "fuse_pool4",
        "upscore16",
        "score",
    ]


def test_verify_passes_and_plot_draws(capsys, tmp_path):
    png = tmp_path / "footprint.png"
    args = ["geometry", "fcn-alexnet", "--size", "60", "--verify", "--plot", str(png)]
    assert cli.main(args) == 0
    assert "all agree" in capsys.readouterr().out
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 60


def test_verify_exits_nonzero_when_the_algebra_disagrees(capsys, monkeypatch):
    real_box = Trace.box

    def off_by_one(self, i, j):
        box = real_box(self, i, j)
        return None if box is None else ((box[0][0] + 1, box[0][1]), box[1])

    monkeypatch.setattr(Trace, "box", off_by_one)
    assert cli.main(["geometry", "fcn32s", "--size", "40", "--verify", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["verify"]["failed"]


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        cli.main(["geometry", "fcn4s"])
    with pytest.raises(SystemExit):
        cli.main(["geometry", "fcn8s", "--size", "0"])


def test_installed_console_script():
    # The console script and `python -m fcn_jax.cli` run the same entry point.
    result = subprocess.run(
        [sys.executable, "-m", "fcn_jax.cli", "geometry", "fcn32s", "--json", "--size", "64"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["crops"] == {"score": 19}
