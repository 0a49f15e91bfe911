"""Tiled prediction (``fcn_jax.predict.tiled``, ``fcn-jax predict --tile N``): the scores of
an image computed a tile at a time equal the whole-image forward pass of the same net and
params, at sizes and tiles odd and even, one tile or many; the geometry's halo and stride grid
are needed (a smaller halo or a finer grid changes the scores); bad tiles are one line."""

import jax
import numpy as np
import pytest
from PIL import Image

from fcn_jax import cli
from fcn_jax.data.preprocessing import CAFFE_ILSVRC
from fcn_jax.geometry.footprint import measure_supports
from fcn_jax.geometry.tiling import Halo, TileError, spans
from fcn_jax.models import build
from fcn_jax.predict.tiled import TileGeometry, tile_geometry, tiled_scores
from fcn_jax.weights import save_bundle


def random_variables(model, seed=0):
    """Every param random (the score layers too, which start at zero), scaled by its fan-in."""
    variables = model.init(jax.random.key(0), np.zeros((1, 64, 64, 3), np.float32))
    leaves, tree = jax.tree.flatten(variables)
    rng = np.random.default_rng(seed)
    new = [rng.standard_normal(leaf.shape).astype(np.float32) / np.sqrt(np.prod(leaf.shape[:-1]))
           for leaf in leaves]  # fmt: skip
    return jax.tree.unflatten(tree, new)


def image(height, width, seed=1):
    return 50 * np.random.default_rng(seed).standard_normal((height, width, 3)).astype(np.float32)


NETS = {}


def net(arch, align):
    """(jitted apply, variables, tile geometry) of a width-1/32 net, built once per test run."""
    if (arch, align) not in NETS:
        model = build(arch, 5, width=1 / 32, align=align)
        NETS[arch, align] = jax.jit(model.apply), random_variables(model), tile_geometry(model)
    return NETS[arch, align]


def relative_error(tiled, whole):
    return np.abs(tiled - whole).max() / np.abs(whole).max()


# (arch, align, image (height, width), tile): the smallest tiles are 522 (FCN-8s) and 498
# (FCN-32s) pixels, so these are 2-3 tiles along an axis, a lone one, or one larger than it all
CASES = [
    ("fcn8s", "caffe", (563, 97), 555),  # 2 x 1 tiles, odd everything, step 64
    ("fcn8s", "same", (150, 1100), 651),  # 1 x 4, step 160
    ("fcn32s", "caffe", (97, 131), 600),  # the tile is larger than the image
    ("fcn32s", "same", (1049, 70), 563),  # 9 x 1, the smallest step (64) of that tile
]


@pytest.mark.parametrize(("arch", "align", "size", "tile"), CASES)
def test_tiled_scores_are_the_whole_images(arch, align, size, tile):
    forward, variables, geometry = net(arch, align)
    x = image(*size)
    whole = np.asarray(forward(variables, x[None]))[0]
    tiled = tiled_scores(forward, variables, x, tile, geometry)
    assert tiled.shape == whole.shape
    assert relative_error(tiled, whole) <= 1e-5


@pytest.mark.parametrize(
    ("changed", "tile"),
    [
        (lambda h: Halo(h.stride, h.before - 64, h.after - 64), 555),  # short of the supports
        (lambda h: Halo(h.stride // 2, h.before, h.after), 539),  # origins 48 apart
    ],
    ids=["smaller-halo", "finer-grid"],
)
def test_the_halo_and_the_grid_are_needed(changed, tile):
    """The comparison above can fail: with a halo 64 pixels short, or origins on half the
    stride grid, the same image in tiles gets other scores. (The halo is the support for any
    weights; with these, ReLU zeros and max pooling hide a little of it: 24 short still gives
    the same scores, 40 short differs by 4e-5.)"""
    forward, variables, geometry = net("fcn8s", "caffe")
    x = image(563, 97)
    whole = np.asarray(forward(variables, x[None]))[0]
    wrong = TileGeometry(changed(geometry.rows), changed(geometry.cols))
    assert relative_error(tiled_scores(forward, variables, x, tile, wrong), whole) > 1e-4


@pytest.mark.parametrize(("arch", "align"), [("fcn32s", "same"), ("fcn8s", "caffe")])
def test_the_halos_are_the_measured_supports(arch, align):
    """The halo from the algebra against the supports measured by autodiff on the net's linear
    stand-in (:mod:`fcn_jax.geometry.footprint`): over a period of 32 output rows in the
    middle, the farthest input row each depends on, before and after it."""
    model = build(arch, 5, width=1 / 32, align=align)
    rows = range(288, 320)
    masks = measure_supports(model, 608, 40, [("output", (y, 20)) for y in rows])
    seen = [np.flatnonzero(mask.any(axis=1)) for mask in masks]
    before = max(y - s.min() for y, s in zip(rows, seen, strict=True))
    after = max(s.max() - y for y, s in zip(rows, seen, strict=True))
    assert min(s.min() for s in seen) > 0 and max(s.max() for s in seen) < 607  # not clipped
    assert (before, after) == net(arch, align)[2].rows[1:]


@pytest.mark.parametrize(("n", "tile"), [(1, 498), (497, 498), (1049, 563), (2000, 1001)])
def test_the_kept_rows_partition_the_image_on_the_stride_grid(n, tile):
    halo = Halo(32, 233, 233)
    found = spans(n, tile, halo)
    assert [s.keep for s in found[1:]] == [s.keep_stop for s in found[:-1]]
    assert found[0].keep == 0 and found[-1].keep_stop == n
    for s in found:
        assert s.start % 32 == 0 and s.stop - s.start <= tile
        assert s.start == 0 or s.keep - halo.before >= s.start  # the halo before, inside
        assert s.stop == n or s.keep_stop - 1 + halo.after < s.stop  # and after


@pytest.mark.parametrize("tile", [0, -5, 497])
def test_a_tile_below_the_smallest_names_it(tile):
    _, _, geometry = net("fcn32s", "caffe")
    assert geometry.minimum == 498
    with pytest.raises(TileError, match=f"^tile {tile} is below this net's smallest tile of 498 "):
        geometry.check(tile)


def test_nets_that_cannot_be_tiled_exactly_say_why():
    with pytest.raises(ValueError, match=r"bilinear resize.*without --tile$"):
        tile_geometry(build("fcn-resnet50", 3, width=1 / 32))
    with pytest.raises(ValueError, match=r"coarse class scores.*without --tile$"):
        tile_geometry(build("vgg16", 3, width=1 / 32))


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A converted-weights directory of a width-1/32 FCN-32s with random params."""
    model = build("fcn32s", 3, width=1 / 32)
    params = jax.tree.map(np.asarray, random_variables(model)["params"])
    meta = {"arch": "fcn32s", "num_classes": 3, "width": 1 / 32, "preprocessing": CAFFE_ILSVRC}
    return save_bundle(tmp_path_factory.mktemp("w"), params, meta)


def test_predict_tile_writes_the_whole_images_labels_and_scores(random_weights, tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (530, 90, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path := tmp_path / "tall.png")
    for out, tile in (("whole", []), ("tiled", ["--tile", "499"])):  # 2 tiles down
        argv = ["predict", "--weights", str(random_weights), str(path), "--heatmap", "1"]
        assert cli.main([*argv, "--out", str(tmp_path / out), *tile, "--no-cache"]) == 0
    labels = [np.asarray(Image.open(tmp_path / out / "tall.png")) for out in ("whole", "tiled")]
    heat = [np.load(tmp_path / out / "tall_heat_1.npy") for out in ("whole", "tiled")]
    assert len(np.unique(labels[0])) > 1  # not a constant picture
    np.testing.assert_array_equal(labels[1], labels[0])
    np.testing.assert_allclose(heat[1], heat[0], atol=1e-6)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--tile", "0"], "fcn-jax predict: tile 0 is below this net's smallest tile of 498 "
                          "pixels (its stride 32 plus halos of 233 and 233)"),
        (["--tile", "600", "--bucket", "32"], "fcn-jax predict: give --tile or --bucket, not "
                                              "both: a padded tile would not give the image's "
                                              "scores"),
    ],
    ids=["too-small", "with-bucket"],
)  # fmt: skip
def test_predict_refuses_a_bad_tile_in_one_line(weights, tmp_path, flags, said):
    Image.new("RGB", (20, 20)).save(path := tmp_path / "a.png")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["predict", "--weights", str(weights), str(path), "--out", str(tmp_path / "o"),
                  *flags])  # fmt: skip
    assert str(stopped.value) == said
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "align"),
    [("fcn16s", "caffe"), ("fcn8s-atonce", "same"), ("fcn-alexnet", "caffe"),
     ("fcn-alexnet", "same"), ("fcn32s-googlenet", "caffe"), ("fcn8s-googlenet", "same")],
)  # fmt: skip
def test_the_other_fcns_tiled_are_the_whole_image(arch, align):
    """3 tiles down a column of each net's smallest tile + 33 pixels, stepping by 64."""
    forward, variables, geometry = net(arch, align)
    x = image(geometry.minimum + 101, 45)
    whole = np.asarray(forward(variables, x[None]))[0]
    tiled = tiled_scores(forward, variables, x, geometry.minimum + 33, geometry)
    assert relative_error(tiled, whole) <= 1e-5


@pytest.mark.slow
def test_fcn8s_in_3_x_2_tiles_is_the_whole_image():
    forward, variables, geometry = net("fcn8s", "caffe")
    x = image(631, 601)
    whole = np.asarray(forward(variables, x[None]))[0]
    assert relative_error(tiled_scores(forward, variables, x, 555, geometry), whole) <= 1e-5


@pytest.mark.slow
def test_full_width_fcn8s_tiled_is_the_whole_image():
    """3 tiles down a column (601 pixels, stepping by 96) of the full-width net."""
    model = build("fcn8s", 21, align="caffe")
    variables = random_variables(model)
    forward = jax.jit(model.apply)
    x = image(700, 97)
    whole = np.asarray(forward(variables, x[None]))[0]
    tiled = tiled_scores(forward, variables, x, 601, tile_geometry(model))
    assert relative_error(tiled, whole) <= 1e-5
