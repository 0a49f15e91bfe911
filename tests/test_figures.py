"""The figures a person reads: what each shows is checked against values written out by hand
(a metrics.jsonl across a resume, label maps, colours), and TensorBoard's own reader reads back
what the run log wrote."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from fcn_jax.predict.outputs import heat_title
from fcn_jax.train.runlog import RunLog
from fcn_jax.viz import (
    footprint_figure,
    heat_colours,
    heatmap_figure,
    learning_curve,
    learning_series,
    overlay_figure,
    png_bytes,
    tile,
)

VOC = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car")

# A run of 40 steps killed after step 30's row, resumed from its step-20 checkpoint: steps 30
# and the validation at 30 are done again, and the rows of the second start are the ones kept.
RESUMED = [
    {"step": 10, "split": "train", "loss": 2.0, "time": 1.0},
    {"step": 20, "split": "train", "loss": 1.0, "time": 2.0},
    {"step": 20, "split": "val", "mean_iu": 0.2, "pixel_accuracy": 0.6, "per_class_iu": [0.2]},
    {"step": 30, "split": "train", "loss": 0.9, "time": 3.0},
    {"step": 30, "split": "val", "mean_iu": 0.3, "pixel_accuracy": 0.7},
    {"step": 30, "split": "train", "loss": 0.8, "time": 5.0},  # the resumed start
    {"step": 30, "split": "val", "mean_iu": 0.35, "pixel_accuracy": 0.75},
    {"step": 40, "split": "train", "loss": 0.5, "time": 6.0},
]


def legend_texts(legend) -> list[str]:
    return [text.get_text() for text in legend.get_texts()]


def decoded(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_the_learning_curve_draws_the_whole_history_the_last_row_of_a_step_winning():
    series = learning_series(RESUMED)
    assert series[("train", "loss")] == ([10, 20, 30, 40], [2.0, 1.0, 0.8, 0.5])
    assert series[("val", "mean_iu")] == ([20, 30], [0.2, 0.35])
    assert series[("val", "pixel_accuracy")] == ([20, 30], [0.6, 0.75])
    assert ("val", "per_class_iu") not in series and ("train", "time") not in series
    figure = learning_curve(series, "fcn8s on synthetic", resumes=[20])
    loss_ax, score_ax = figure.axes
    (loss,) = [line for line in loss_ax.lines if line.get_label().startswith("training loss")]
    assert list(loss.get_xdata()) == [10, 20, 30, 40]
    assert list(loss.get_ydata()) == [2.0, 1.0, 0.8, 0.5]
    assert loss_ax.get_yscale() == "linear"  # 2.0 to 0.5 spans no decade
    assert score_ax.get_ylim() == (0, 1)
    lines = {line.get_label().rsplit(" ", 1)[0]: line for line in score_ax.lines}
    mean_iu = lines["mean IU"]
    assert list(mean_iu.get_ydata()) == [0.2, 0.35]
    # mean IU is drawn over the other scores and thicker, so it cannot hide behind them
    assert mean_iu.get_zorder() > lines["pixel accuracy"].get_zorder()
    assert mean_iu.get_linewidth() > lines["pixel accuracy"].get_linewidth()
    assert [line.get_xdata()[0] for line in score_ax.lines if line.get_linestyle() == ":"] == [20]
    assert figure.get_suptitle() == "fcn8s on synthetic"
    assert decoded(png_bytes(figure)).shape == (620, 900, 3)


def test_a_loss_spanning_decades_is_drawn_on_a_log_scale():
    rows = [{"step": s, "split": "train", "loss": v} for s, v in ((1, 3.0), (2, 0.3), (3, 0.01))]
    loss_ax, score_ax = learning_curve(learning_series(rows)).axes
    assert loss_ax.get_yscale() == "log"
    assert "no validation yet" in [t.get_text() for t in score_ax.texts]


def test_the_run_log_plots_every_start_from_its_files(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RESUMED))
    starts = [{"step": 0}, {"step": 20}]
    (tmp_path / "config_history.jsonl").write_text("".join(json.dumps(s) + "\n" for s in starts))
    log = RunLog(tmp_path, resumed_at=40, title="run")
    path = log.plot()
    log.close()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (900, 620)


def test_an_overlay_keeps_the_image_and_lists_exactly_the_classes_present():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    label = np.zeros((40, 30), np.uint8)
    label[5:15, 5:20], label[20:30, 10:25] = 3, 7
    figure = overlay_figure(image, label, VOC)
    assert legend_texts(figure.legends[0]) == ["0 background (not coloured)", "3 bird", "7 car"]
    picture = decoded(png_bytes(figure))
    assert picture.shape[0] >= 40 and picture.shape[1] > 30 + 100  # the legend beside it
    # the image at its own pixels, half the VOC colour (bird (128, 128, 0), car (128, 128, 128))
    # over the labelled ones; the background untouched
    colour = np.zeros((40, 30, 3))
    colour[label == 3], colour[label == 7] = (128, 128, 0), (128, 128, 128)
    expected = np.where((label > 0)[..., None], image * 0.5 + colour * 0.5, image)
    np.testing.assert_array_equal(picture[:40, :30], expected.astype(np.uint8))


def test_an_overlay_colours_class_0_where_it_is_no_background():
    label = np.array([[0, 1], [1, 1]], np.uint8)
    figure = overlay_figure(np.zeros((2, 2, 3), np.uint8), label, ("awning", "balcony"))
    assert legend_texts(figure.legends[0]) == ["0 awning", "1 balcony"]


def test_sample_tiles_title_their_columns_and_list_the_classes_of_truth_and_prediction():
    truth = np.zeros((20, 24), np.uint8)
    truth[:5], truth[10:] = 255, 2
    predicted = np.zeros((20, 24), np.uint8)
    predicted[12:, :6] = 5
    rows = [(np.zeros((20, 24, 3), np.uint8), truth, predicted)] * 2
    figure = tile(rows, VOC, "step 4")
    titles = [ax.get_title() for ax in figure.axes[:4]]
    assert titles == ["image", "ground truth", "prediction", "errors (red; void grey)"]
    assert legend_texts(figure.legends[0]) == [
        "0 background", "2 bicycle", "5 bottle", "void (not scored)"
    ]  # fmt: skip
    # of the 15 * 24 scored (non-void) pixels, rows 10..19 are wrong: truth 2, predicted 0 or 5
    share = (10 * 24) / (15 * 24)
    assert figure.axes[3].get_xlabel() == f"{share:.1%} wrong"
    errors = figure.axes[3].images[0].get_array()
    assert tuple(errors[0, 0]) == (150, 150, 150) and tuple(errors[19, 0]) == (230, 30, 30)


def test_a_heatmap_names_its_class_and_its_colour_bar_runs_from_0_to_1():
    assert heat_title(1, VOC) == "class 1 (aeroplane): softmax score"
    assert heat_title(3, None) == "class 3: softmax score"
    score = np.full((4, 5), 0.2)
    score[2:] = 0.4  # the bar does not follow the map's range: every heatmap reads alike
    figure = heatmap_figure(np.zeros((60, 80, 3), np.uint8), score, heat_title(1, VOC))
    (bar,) = [ax for ax in figure.axes if ax.get_label() == "colour bar"]
    assert bar.get_ylim() == (0, 1)
    assert [t.get_text() for t in figure.texts] == ["class 1 (aeroplane): softmax score"]
    # magma's ends (matplotlib's listed data, scaled to bytes): 0 near black, 1 pale yellow
    assert heat_colours(np.array([0.0, 1.0])).tolist() == [[0, 0, 4], [252, 253, 191]]


def test_the_footprint_plot_labels_the_frame_the_support_and_the_field_past_the_frame():
    mask = np.zeros((30, 40), bool)
    mask[0:12, 25:40] = True
    field = ((-8.0, 11.0), (25.0, 44.0))
    figure = footprint_figure(mask, ((0, 11), (25, 39)), "unit (0, 3)", field)
    (ax,) = figure.axes
    assert legend_texts(ax.get_legend()) == [
        "input frame 30x40",
        "measured support (autodiff): rows 0..11, cols 25..39",
        "predicted support (geometry): rows 0..11, cols 25..39",
        "receptive field 20x20: rows -8..11, cols 25..44",
        "outside the frame: no input, the support is clipped",
    ]
    left, right = ax.get_xlim()
    bottom, top = ax.get_ylim()
    assert left < -0.5 and right > 44.5 and top < -8.5 and bottom > 29.5  # all of it in view
    assert ax.get_xlabel() == "column (input pixels)" and ax.get_ylabel() == "row (input pixels)"


def test_tensorboard_reads_back_each_class_iu_and_the_sample_tiles(tmp_path):
    log = RunLog(tmp_path, class_names=("background", "bird", "cat"))
    log.write(4, "val", {"mean_iu": 0.375, "per_class_iu": [0.5, None, 0.25]})
    rows = [(np.zeros((16, 20, 3), np.uint8), np.zeros((16, 20), np.uint8), np.ones((16, 20)))]
    png = png_bytes(tile(rows, ("background", "bird")))
    log.image(4, "val/samples", png)
    log.close()
    events = event_accumulator.EventAccumulator(
        str(tmp_path / "tensorboard"), size_guidance={event_accumulator.IMAGES: 0}
    )
    events.Reload()
    tags = events.Tags()
    assert {"val/mean_iu", "val/iu/background", "val/iu/cat"} <= set(tags["scalars"])
    assert "val/iu/bird" not in tags["scalars"]  # absent from truth and prediction: no IU
    assert [(s.step, s.value) for s in events.Scalars("val/iu/background")] == [(4, 0.5)]
    assert [(s.step, s.value) for s in events.Scalars("val/iu/cat")] == [(4, 0.25)]
    (image,) = events.Images("val/samples")
    assert image.step == 4 and image.encoded_image_string == png
    height, width = decoded(image.encoded_image_string).shape[:2]
    assert (image.width, image.height) == (width, height)


@pytest.mark.parametrize("names", [VOC, None])
def test_a_legend_without_names_gives_the_indices(names):
    label = np.array([[1, 2]], np.uint8)
    texts = legend_texts(overlay_figure(np.zeros((1, 2, 3), np.uint8), label, names).legends[0])
    assert texts == (["1 aeroplane", "2 bicycle"] if names else ["1", "2"])


def test_a_figure_that_cannot_be_written_is_one_warning_and_leaves_the_old_one(tmp_path, capsys):
    from fcn_jax.train.runlog import write_figure

    old = tmp_path / "learning_curve.png"
    old.write_bytes(b"the previous figure")
    assert write_figure(old, b"new") == old and old.read_bytes() == b"new"
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    assert write_figure(blocked / "samples_000004.png", b"png") is None
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and str(blocked / "samples_000004.png") in said[0]
    assert said[0].endswith("training goes on")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "learning_curve.png"]
