"""Weights files that are not what they claim, given to ``fcn-jax convert`` and ``fcn-jax
predict --weights``: one line naming the file and what is wrong with it, in our words (never
a library's advice), nothing written, and never the source overwritten."""

import json

import numpy as np
import pytest

from fcn_jax import cli
from fcn_jax.data.preprocessing import TORCHVISION
from fcn_jax.weights import save_bundle


def convert(source, out):
    return cli.main(["convert", "--from", "torchfcn", str(source), "--arch", "fcn32s",
                     "--out", str(out)])  # fmt: skip


def npz_bytes(tmp_path, **arrays):
    np.savez(tmp_path / "made.npz", **arrays)
    return (tmp_path / "made.npz").read_bytes()


def torch_bytes(tmp_path, value):
    torch = pytest.importorskip("torch")
    torch.save(value, tmp_path / "made.pth")
    return (tmp_path / "made.pth").read_bytes()


CASES = {  # name: (file name, its bytes from tmp_path, the reason given)
    "text as npz": ("w.npz", lambda t: b"hello\n", "not an .npz archive (numpy.savez writes one)"),
    "truncated npz": ("w.npz", lambda t: npz_bytes(t, a=np.ones(100))[:150],
                      "truncated or corrupt (its zip archive is incomplete)"),
    "object npz": ("w.npz", lambda t: npz_bytes(t, a=np.array([{}], dtype=object)),
                   "holds object arrays, which are not loaded (only numeric arrays are)"),
    "empty npz": ("w.npz", lambda t: b"", "the file is empty"),
    "garbage safetensors": ("w.safetensors", lambda t: b"\xff" * 64,
                            "not a .safetensors file, or truncated"),
}  # fmt: skip
TORCH_CASES = {
    "garbage pth": ("w.pth", lambda t: bytes(range(1, 256)) * 8,
                    "not a torch file (torch.save writes a zip archive or a pickle)"),
    "truncated pth": ("w.pth", lambda t: torch_bytes(t, {"a": np.ones(3)})[:200],
                      "truncated or corrupt (its zip archive is incomplete)"),
    "pickle of objects": ("w.pth", lambda t: b"\x80\x04\x95" + b"\x00" * 8 + b"c__main__\nX\n.",
                          "holds objects other than tensors, which are not loaded (no code in "
                          "a weights file runs): save the state dict alone"),
    "empty pth": ("w.pth", lambda t: b"", "the file is empty"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES) + list(TORCH_CASES))
def test_a_bad_weights_file_is_named_in_one_line(tmp_path, case):
    if case in TORCH_CASES:
        pytest.importorskip("torch")
    name, content, reason = {**CASES, **TORCH_CASES}[case]
    path = tmp_path / name
    path.write_bytes(data := content(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        convert(path, tmp_path / "out")
    suffix = path.suffix
    assert str(stopped.value) == f"fcn-jax convert: {path}: cannot read it as {suffix}: {reason}"
    assert path.read_bytes() == data and not (tmp_path / "out").exists()


def test_a_directory_or_missing_file_is_named(tmp_path):
    for source, reason in [(tmp_path, "is a directory, not a weights file"),
                           (tmp_path / "none.pth", "no such file")]:  # fmt: skip
        with pytest.raises(SystemExit) as stopped:
            convert(source, tmp_path / "out")
        assert str(stopped.value) == f"fcn-jax convert: {source}: {reason}"


def test_convert_never_writes_over_its_source(tmp_path):
    (tmp_path / "w").mkdir()
    source = tmp_path / "w" / "params.npz"
    np.savez(source, a=np.ones(3))
    data = source.read_bytes()
    with pytest.raises(SystemExit) as stopped:
        convert(source, tmp_path / "w")
    assert str(stopped.value) == (
        f"fcn-jax convert: writing {source} would overwrite the source {source}: "
        "choose another --out directory"
    )
    assert source.read_bytes() == data
    (tmp_path / "file").write_bytes(b"keep")
    with pytest.raises(SystemExit) as stopped:
        convert(source, tmp_path / "file")
    assert (
        str(stopped.value)
        == f"fcn-jax convert: --out {tmp_path / 'file'} is a file, not a directory"
    )
    assert (tmp_path / "file").read_bytes() == b"keep"


def bundle(tmp_path):
    meta = {"arch": "fcn32s", "num_classes": 3, "width": 1.0, "preprocessing": TORCHVISION}
    return save_bundle(tmp_path / "w", {"fc7": {"bias": np.ones(3)}}, meta)


def predict_with(weights, tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    return cli.main(["predict", "--weights", str(weights), str(tmp_path / "x.png"), "--out",
                     str(tmp_path / "o")])  # fmt: skip


def test_a_bad_weights_directory_is_named_in_one_line(tmp_path):
    directory = bundle(tmp_path)
    cases = [
        ("params.npz", b"text, not numpy", f"{directory / 'params.npz'}: cannot read it: "
         "not an .npz archive (numpy.savez writes one)"),
        ("weights.json", b"{not json", f"{directory / 'weights.json'}: cannot read it: "
         "not JSON (line 1 column 2)"),
    ]  # fmt: skip
    for name, content, message in cases:
        kept = (directory / name).read_bytes()
        (directory / name).write_bytes(content)
        with pytest.raises(SystemExit) as stopped:
            predict_with(directory, tmp_path)
        assert str(stopped.value) == f"fcn-jax predict: {message}"
        (directory / name).write_bytes(kept)
    json.loads((directory / "weights.json").read_text())  # put back whole
    with pytest.raises(SystemExit) as stopped:
        predict_with(tmp_path / "x.png", tmp_path)
    assert str(stopped.value) == (
        f"fcn-jax predict: {tmp_path / 'x.png'}: a file, not a converted-weights directory"
    )
    assert not (tmp_path / "o").exists()
