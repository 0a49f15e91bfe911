"""``fcn-jax predict`` given bad inputs: it never overwrites an input or an earlier output of
the same call (it refuses before writing anything), prints every file it wrote, scales 16-bit
images instead of clipping them, keeps depth as measured, and names every bad file or option
in one line."""

import os

import numpy as np
import pytest
from PIL import Image

from fcn_jax import cli
from fcn_jax.predict.images import IMAGE_SUFFIXES as SUFFIXES
from fcn_jax.predict.images import ImageFileError, read_depth, read_rgb


def photo(path, seed=0, size=(24, 31)):
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def predict(weights, *args):
    return cli.main(["predict", "--weights", str(weights), *map(str, args)])


def snapshot(root):
    """Every file under ``root`` with its bytes."""
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name[0] != "."}


def test_an_output_that_is_the_input_is_refused_before_writing(weights, tmp_path):
    image = photo(tmp_path / "ow" / "photo2.png")
    before = snapshot(tmp_path)
    message = (f"fcn-jax predict: writing {image} would overwrite the input {image}: "
               "choose another --out directory")  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        predict(weights, image, "--out", tmp_path / "ow")
    assert str(stopped.value) == message
    assert snapshot(tmp_path) == before


def test_an_output_that_is_another_input_is_refused(weights, tmp_path):
    first, second = photo(tmp_path / "e" / "x.png"), photo(tmp_path / "d" / "x_overlay.png", 1)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        predict(weights, first, second, "--out", tmp_path / "d")
    assert str(stopped.value) == (
        f"fcn-jax predict: writing {second} would overwrite the input {second}: "
        "choose another --out directory"
    )
    assert snapshot(tmp_path) == before


def test_an_output_linked_to_an_input_is_refused(weights, tmp_path):
    image = photo(tmp_path / "a" / "x.png")
    (tmp_path / "o").mkdir()
    os.link(image, tmp_path / "o" / "x.png")  # the same file under the output's name
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        predict(weights, image, "--out", tmp_path / "o")
    assert str(stopped.value) == (
        f"fcn-jax predict: writing {tmp_path / 'o' / 'x.png'} would overwrite the input "
        f"{image}: choose another --out directory"
    )
    assert snapshot(tmp_path) == before


def test_two_inputs_with_one_stem_are_refused_before_writing(weights, tmp_path):
    jpg, png = photo(tmp_path / "a" / "x.jpg"), photo(tmp_path / "b" / "x.png", 1)
    with pytest.raises(SystemExit) as stopped:
        predict(weights, jpg, png, "--out", tmp_path / "d")
    assert str(stopped.value) == (
        f"fcn-jax predict: {jpg} and {png} would both write {tmp_path / 'd' / 'x.png'}: their "
        "names differ only in folder or suffix; predict them with different --out directories"
    )
    assert not (tmp_path / "d").exists()


def test_an_out_that_is_a_file_is_refused(weights, tmp_path):
    image = photo(tmp_path / "x.png")
    (tmp_path / "out").write_bytes(b"keep me")
    with pytest.raises(SystemExit) as stopped:
        predict(weights, image, "--out", tmp_path / "out")
    assert (
        str(stopped.value)
        == f"fcn-jax predict: --out {tmp_path / 'out'} is a file, not a directory"
    )
    assert (tmp_path / "out").read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file or folder"),
        ("dir", f"the folder holds no image file (image files end in {', '.join(SUFFIXES)})"),
        (b"hello, not an image\n", "not an image file (no format PIL reads)"),
        ("truncated", "truncated or corrupt image file"),
    ],
)
def test_an_unreadable_image_is_named(weights, tmp_path, content, reason):
    path = tmp_path / "bad.png"
    if content == "dir":
        path.mkdir()
    elif content == "truncated":
        data = photo(tmp_path / "good.png").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as stopped:
        predict(weights, path, "--out", tmp_path / "o")
    assert str(stopped.value) == f"fcn-jax predict: image {path}: {reason}"


def test_a_bad_workdir_or_checkpoint_is_one_line(tmp_path):
    image = photo(tmp_path / "x.png")
    run = ["predict", str(image), "--out", str(tmp_path / "o"), "--workdir"]
    cases = [
        ([str(tmp_path / "nope")], f"--workdir {tmp_path / 'nope'}: no such directory"),
        ([str(image)], f"--workdir {image}: not a directory"),
        (
            [str(tmp_path)],
            f"--workdir {tmp_path}: no checkpoints/ directory; not a training "
            "run (fcn-jax train --workdir writes one)",
        ),
        (
            [str(tmp_path), "--checkpoint", "foo"],
            "--checkpoint must be best, latest or a step number, got 'foo'",
        ),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as stopped:
            cli.main(run + extra)
        assert str(stopped.value) == f"fcn-jax predict: {message}"
    assert not (tmp_path / "o").exists()


def test_sixteen_bit_images_are_scaled_by_their_range(tmp_path):
    grey = np.array([[0, 257, 32768], [65535, 65280, 128]], np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as image:
        assert image.mode.startswith("I")  # stored and read as 16-bit
    expected = np.array([[0, 1, 128], [255, 254, 0]], np.uint8)  # v * 255 / 65535, rounded
    rgb = read_rgb(tmp_path / "g16.png")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.repeat(expected[..., None], 3, axis=-1))


def test_depth_is_kept_as_measured_and_must_be_one_channel(tmp_path):
    depth = np.array([[0, 500, 9000], [65535, 1, 2550]], np.uint16)  # millimetres, 0 = missing
    Image.fromarray(depth).save(tmp_path / "d.png")
    np.testing.assert_array_equal(read_depth(tmp_path / "d.png"), depth)
    photo(tmp_path / "rgb.png")
    with pytest.raises(ImageFileError) as refused:
        read_depth(tmp_path / "rgb.png")
    assert str(refused.value) == (
        f"depth image {tmp_path / 'rgb.png'}: has 3 channels; a depth PNG has one "
        "(16-bit millimetres, as NYUDv2's)"
    )


def test_files_are_printed_as_written_and_a_rerun_overwrites_its_own(weights, tmp_path, capsys):
    rgb = np.random.default_rng(3).integers(0, 256, (24, 31), dtype=np.uint16)
    (tmp_path / "in").mkdir()
    Image.fromarray(rgb * 257).save(tmp_path / "in" / "deep.png")  # 16 bits: v * 257
    Image.fromarray(rgb.astype(np.uint8)).convert("RGB").save(tmp_path / "in" / "flat.png")
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    images = [tmp_path / "in" / n for n in ("deep.png", "flat.png")]
    with pytest.raises(SystemExit) as stopped:
        predict(weights, *images, bad, "--out", out, "--heatmap", "1")
    assert (
        str(stopped.value)
        == f"fcn-jax predict: image {bad}: not an image file (no format PIL reads)"
    )
    names = [f"{s}{e}" for s in ("deep", "flat") for e in
             (".png", "_overlay.png", "_heat_1.npy", "_heat_1.png")]  # fmt: skip
    assert capsys.readouterr().out.split() == [str(out / n) for n in names]
    # the 16-bit image is the 8-bit one scaled: the same overlays and heatmaps
    for suffix in ("_overlay.png", "_heat_1.png"):
        assert (out / f"deep{suffix}").read_bytes() == (out / f"flat{suffix}").read_bytes()
    (out / "deep.png").write_bytes(b"an earlier call's output")
    assert predict(weights, images[0], "--out", out) == 0
    assert capsys.readouterr().out.split() == [str(out / "deep.png"), str(out / "deep_overlay.png")]
    assert (out / "deep.png").read_bytes() == (out / "flat.png").read_bytes()
