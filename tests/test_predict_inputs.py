"""``fcn-jax predict`` on folders and glob patterns: which files they stand for (against
hand-listed expectations), in which order, and a one-line error for each path that stands for
nothing."""

import pytest
from PIL import Image

from fcn_jax import cli
from fcn_jax.predict.images import ImageFileError, expand


def picture(path, mode="RGB", size=(20, 13)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 90).save(path, format="JPEG" if path.suffix.lower() in {".jpg", ".jpeg"}
                                   else "PNG")  # fmt: skip
    return path


@pytest.fixture
def folder(tmp_path):
    """photos/: b.png, a.JPG, c.jpeg, notes.txt, and sub/d.png (not taken from photos/)."""
    photos = tmp_path / "photos"
    for name in ("b.png", "a.JPG", "c.jpeg", "sub/d.png"):
        picture(photos / name)
    (photos / "notes.txt").write_text("not an image")
    return photos


def test_a_folder_is_its_image_files_sorted_by_name(folder):
    assert expand([folder]) == [folder / "a.JPG", folder / "b.png", folder / "c.jpeg"]


def test_globs_are_expanded_here_and_mixed_with_files_in_the_order_given(folder):
    given = [folder / "sub" / "d.png", f"{folder}/*.png", f"{folder}/[ac].*", f"{folder}/**/*.png"]
    assert expand(given) == [
        folder / "sub" / "d.png",
        folder / "b.png",
        folder / "a.JPG",
        folder / "c.jpeg",
        folder / "b.png",
        folder / "sub" / "d.png",
    ]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("missing.png", "no such file or folder"),
        ("empty", "the folder holds no image file (image files end in .png, .jpg"),
        ("photos/*.gif", "the pattern matches no image file; image files end in .png"),
        ("photos/*.txt", "the pattern matches no image file (it matches 1 path(s), none an"),
    ],
)
def test_a_path_that_stands_for_no_image_is_named_in_one_line(folder, given, said):
    (folder.parent / "empty").mkdir()
    with pytest.raises(ImageFileError) as refused:
        expand([folder.parent / given], "depth image")
    message = str(refused.value)
    assert message.startswith(f"depth image {folder.parent / given}: {said}")
    assert "\n" not in message


def test_predict_writes_the_files_of_a_folder_and_a_quoted_glob(weights, folder, capsys):
    out = folder.parent / "out"
    argv = ["predict", "--weights", str(weights), "--no-cache", str(folder), f"{folder}/*/*.png"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    stems = ["a", "b", "c", "d"]
    expected = [str(out / f"{s}{e}") for s in stems for e in (".png", "_overlay.png")]
    captured = capsys.readouterr()
    assert captured.out.split() == expected
    assert sorted(p.name for p in out.iterdir()) == sorted(p.split("/")[-1] for p in expected)
    assert "fcn-jax predict: 4 images in" in captured.err


def test_two_folders_with_one_file_name_are_refused_before_writing(weights, tmp_path):
    first, second = (picture(tmp_path / side / "0001.png") for side in ("left", "right"))
    argv = ["predict", "--weights", str(weights), "--no-cache", str(tmp_path / "left"),
            str(tmp_path / "right"), "--out", str(tmp_path / "out")]  # fmt: skip
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert str(refused.value) == (
        f"fcn-jax predict: {first} and {second} would both write {tmp_path / 'out' / '0001.png'}"
        ": their names differ only in folder or suffix; predict them with different --out "
        "directories"
    )
    assert not (tmp_path / "out").exists()


def test_a_bucketed_prediction_has_the_images_size(weights, tmp_path):
    image = picture(tmp_path / "odd.png", size=(45, 21))  # width 45, height 21: padded to 64x32
    argv = ["predict", "--weights", str(weights), "--no-cache", "--bucket", "32", str(image)]
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "odd.png") as written:  # the labels: one per pixel
        assert written.size == (45, 21)
    with Image.open(tmp_path / "out" / "odd_overlay.png") as figure:  # the image at its pixels
        assert figure.width >= 45 and figure.height >= 21  # and a legend beside it


@pytest.mark.slow
def test_predict_with_weights_keeps_its_compilations_in_the_user_cache(
    weights, tmp_path, monkeypatch
):
    import subprocess

    from tiny_run import fcn_jax

    picture(tmp_path / "in" / "a.png")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ran = fcn_jax("predict", "--weights", str(weights), str(tmp_path / "in"), "--out",
                  str(tmp_path / "out"), stderr=subprocess.PIPE)  # fmt: skip
    _, err = ran.communicate(timeout=300)
    assert ran.returncode == 0, err
    cache = tmp_path / "cache" / "fcn_jax" / "xla"
    assert any(cache.iterdir()) and f"loaded from {cache}" in err
