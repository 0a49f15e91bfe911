"""Bad input through the command line: ``--debug``, ``geometry``'s and ``data``'s one-line
errors in-process, and the whole catalogue (``tests/bad_inputs.py``) in subprocesses."""

import json

import bad_inputs
import pytest
from bad_input_cases import CASES, Case

from fcn_jax import cli


def one_line(exit_info) -> str:
    message = str(exit_info.value.code)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_data_info_synthetic_gives_its_splits_and_classes(capsys):
    assert cli.main(["data", "info", "synthetic", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["splits"] == {"train": 2000, "val": 100}
    assert found["class_names"][:2] == ["background", "blob"]


def test_data_info_folder_names_the_missing_folder(tmp_path):
    with pytest.raises(SystemExit) as stop:
        cli.main(["data", "info", f"folder:{tmp_path}"])
    assert one_line(stop) == (
        f"fcn-jax data info: {tmp_path / 'images'}: missing; a folder dataset needs images/ "
        "and masks/"
    )


def test_data_info_and_prepare_of_unknown_names_list_the_known(tmp_path):
    known = "synthetic, folder:PATH, voc2012, voc2011, sbd, voc_sbd, pascal_context, siftflow, nyud"
    with pytest.raises(SystemExit) as stop:
        cli.main(["data", "info", "imagenet"])
    assert one_line(stop) == f"fcn-jax data info: unknown dataset 'imagenet'; known: {known}"
    with pytest.raises(SystemExit) as stop:
        cli.main(["data", "prepare", "synthetic", "--manual-dir", str(tmp_path)])
    assert one_line(stop) == (
        "fcn-jax data prepare: 'synthetic' needs no preparing; train on it with "
        "--config.dataset=synthetic"
    )


def test_geometry_too_small_a_size_is_one_line():
    with pytest.raises(SystemExit) as stop:
        cli.main(["geometry", "googlenet", "--size", "10"])
    assert one_line(stop) == (
        "fcn-jax geometry: googlenet at --size 10: input of 10x10 pixels is too small for this "
        "classifier: layer pool3_3x3_s2 gets 1x1"
    )


def test_geometry_plot_options_are_checked_before_any_output(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["geometry", "fcn32s", "--size", "64", "--plot", str(tmp_path / "no" / "p.png")])
    assert one_line(stop) == f"fcn-jax geometry: --plot {tmp_path / 'no' / 'p.png'}: no folder " + (
        str(tmp_path / "no")
    )
    with pytest.raises(SystemExit) as stop:
        cli.main(["geometry", "fcn32s", "--size", "64", "--plot", str(tmp_path / "p.png"),
                  "--layer", "nope"])  # fmt: skip
    assert one_line(stop).startswith(
        "fcn-jax geometry: --layer 'nope': fcn32s has no such layer; it has conv1_1, relu1_1,"
    )
    assert capsys.readouterr().out == ""
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback_and_its_cause(capsys):
    assert cli.main(["--debug", "geometry", "googlenet", "--size", "10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    assert "ValueError: input of 10x10 pixels is too small" in err
    assert "The above exception was the direct cause of the following exception" in err
    assert err.rstrip().endswith("layer pool3_3x3_s2 gets 1x1")


def test_debug_is_accepted_after_the_command_too(capsys):
    assert cli.main(["data", "info", "imagenet", "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_the_classifier_tells_clear_from_traceback_and_silent():
    case = Case("c", "config", ("geometry",), "width")
    assert bad_inputs.classify(case, 1, "fcn-jax train: config.width=0\n", False, []).verdict == (
        "clear"
    )
    assert bad_inputs.classify(case, 1, "Traceback (most recent call last):\n  x\nValueError: "
                               "width", False, []).verdict == "traceback"  # fmt: skip
    assert bad_inputs.classify(case, 0, "", False, []).verdict == "silent"
    assert bad_inputs.classify(case, 1, "width", False, ["a.png"]).verdict == "silent"
    assert bad_inputs.classify(case, 1, "error: something", False, []).verdict == "unclear"


def test_the_catalogue_covers_every_command_and_class():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.argv[0] for c in CASES} >= {
        "train",
        "eval",
        "predict",
        "convert",
        "geometry",
        "data",
        "export",
    }
    assert {c.kind for c in CASES} >= {"config", "path", "damaged", "format", "usage"}


@pytest.mark.slow
def test_every_bad_input_is_a_clear_one_line_error(capsys):
    code = bad_inputs.main([])
    table = capsys.readouterr().out.splitlines()
    unclear = [row for row in table[:-1] if row.split()[2:3] in (["traceback"], ["silent"],
                                                                 ["unclear"])]  # fmt: skip
    expected = f"{len(CASES)} inputs: {len(CASES)} clear, 0 traceback, 0 silent"
    assert (code, table[-1]) == (0, expected), "\n".join(unclear)
