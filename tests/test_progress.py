"""What training prints: the recent step rate (compilation and validation left out) against a
fake clock, the time left, the validation line against the scores given it, the bars in a
terminal and the plain lines off one, each printed once."""

import io
import json
import re

import numpy as np
import pytest
from rich.console import Console
from tiny_run import tiny_config, tiny_flags

from fcn_jax.train.hooks import Every
from fcn_jax.train.progress import BestScores, RunDisplay, progress_bar, validation_line
from fcn_jax.train.rate import StepRate, clock_time, seconds_left


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def timed_step(rate: StepRate, clock: FakeClock, seconds: float, compiled=False) -> None:
    rate.start()
    clock.advance(seconds)
    rate.stop(compiled=compiled)


def test_the_rate_leaves_out_the_compiling_step_and_the_time_between_steps():
    clock = FakeClock()
    rate = StepRate(clock=clock)
    assert rate.per_s() is None  # nothing timed yet
    timed_step(rate, clock, 40.0, compiled=True)  # the first step of a shape: the compiler's
    assert rate.per_s() is None
    for seconds in (0.5, 0.5, 0.625):
        timed_step(rate, clock, seconds)
    clock.advance(58.0)  # a validation and a checkpoint, between two steps
    timed_step(rate, clock, 0.375)
    # four steps in 0.5 + 0.5 + 0.625 + 0.375 = 2 s; the average since the start, as before,
    # would be 5 steps / 100 s = 0.05
    assert rate.per_s() == pytest.approx(2.0)


def test_the_rate_is_that_of_the_recent_steps():
    clock = FakeClock()
    rate = StepRate(steps=4, seconds=1.0, clock=clock)
    for _ in range(10):
        timed_step(rate, clock, 1.0)
    for _ in range(8):
        timed_step(rate, clock, 0.25)
    # the last 4 steps hold 1 s, so the window is those: 4 steps/s (over all 18: 1.5)
    assert rate.per_s() == pytest.approx(4.0)
    for _ in range(3):
        timed_step(rate, clock, 0.125)
    # at least 1 s of steps: 0.125 * 3 + 0.25 * 3 = 1.125 s for 6 steps (one 0.25 less would
    # hold 0.875 s, under the second)
    assert rate.per_s() == pytest.approx(6 / 1.125)


def test_the_time_left_counts_the_steps_and_the_validations_still_due():
    # 18 steps at 2 steps/s, and 2 validations of 8 s
    assert seconds_left(18, 2.0, 2, 8.0) == pytest.approx(25.0)
    assert seconds_left(18, None, 2, 8.0) is None
    assert seconds_left(0, None, 1, 8.0) == pytest.approx(8.0)  # only the final validation
    assert seconds_left(10, 2.0, 1, None) == pytest.approx(5.0)  # none measured yet
    assert [clock_time(s) for s in (0, 59.4, 3725, None)] == ["0:00:00", "0:00:59", "1:02:05", "--"]


def test_every_counts_the_steps_still_due():
    every = Every(400, 1000)  # due at 400, 800 and 1000
    assert [every.remaining(s) for s in (0, 399, 400, 900, 999, 1000)] == [3, 3, 2, 1, 1, 0]
    assert [Every(20, 40).remaining(s) for s in (0, 19, 20, 39, 40)] == [2, 2, 1, 1, 0]


SCORES = {"mean_iu": 0.45, "pixel_accuracy": 0.875, "per_class_iu": [0.5, 0.4]}


def test_the_validation_line_says_the_scores_and_the_best_so_far():
    earlier = [{"step": 20, "split": "val", "mean_iu": 0.5}, {"step": 40, "mean_iu": 0.25}]
    best = BestScores(("semantic",), earlier)  # a resumed run's rows count
    best.add(60, SCORES)
    line = validation_line(60, 100, SCORES, ("semantic",), best, 200, 12.34)
    assert line == (
        "step 60/100  val  mean IU 0.4500  pixel accuracy 0.8750  best mean IU 0.5000 at step 20"
        "  (200 images, 12.3 s)"
    )
    best.add(80, {**SCORES, "mean_iu": 0.625})
    assert "best mean IU 0.6250 at step 80" in validation_line(
        80, 100, {**SCORES, "mean_iu": 0.625}, ("semantic",), best, 200, 1.0
    )


def test_the_validation_line_of_two_tasks_names_each():
    tasks = ("semantic", "geometric")
    best = BestScores(tasks, [{"step": 10, "mean_iu": 0.125, "geometric": {"mean_iu": 0.75}}])
    result = {**SCORES, "geometric": {"mean_iu": 0.625, "pixel_accuracy": 0.9375}}
    best.add(20, result)
    line = validation_line(20, 40, result, tasks, best, 50, 3.0)
    assert line == (
        "step 20/40  val  semantic: mean IU 0.4500  pixel accuracy 0.8750  best 0.4500 at step 20"
        " | geometric: mean IU 0.6250  pixel accuracy 0.9375  best 0.7500 at step 10"
        "  (50 images, 3.0 s)"
    )


def validated(display: RunDisplay, clock: FakeClock, step: int, bar=None) -> None:
    """Four images: the first compiles (10 s), the others take 2 s each."""
    display.scoring(step, 0, 4, 0)
    for done, (seconds, compilations) in enumerate([(10, 1), (2, 1), (2, 1), (2, 1)], 1):
        clock.advance(seconds)
        display.scoring(step, done, 4, compilations)
        if bar is not None and done == 3:
            bar.refresh()
            assert "validating" in bar.console.file.getvalue()
    display.scored(step, SCORES)


def test_a_terminal_shows_validation_progress_and_the_line_above_the_bar(capsys):
    console = Console(file=io.StringIO(), force_terminal=True, width=150)
    clock = FakeClock()
    with progress_bar(console=console) as bar:
        display = RunDisplay(bar, 0, 40, Every(20, 40), Every(20, 40), ("semantic",),
                             BestScores(("semantic",)), clock=clock)  # fmt: skip
        display.step(20, 0.75, 2.0)
        bar.refresh()
        validated(display, clock, 20, bar)
        display.step(22, 0.5, 2.0)
        bar.refresh()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    # images 2-3 at 2 s each: 0.5 images/s; the one left at this validation's pace so far,
    # compiling included: 14 s / 3 images
    assert "validating 3/4" in shown and "0.5 images/s  ETA 0:00:05" in shown
    assert "step 20/40  val  mean IU 0.4500  pixel accuracy 0.8750" in shown
    # at step 22: 18 steps at 2 steps/s, then the final validation of 4 images at 0.5 images/s
    assert "loss 0.5000  2.00 steps/s  ETA 0:00:17" in shown
    assert capsys.readouterr().out == ""  # nothing printed beside the bar


def test_off_a_terminal_each_line_is_printed_once(capsys):
    console = Console(file=io.StringIO(), force_terminal=False)
    clock = FakeClock()
    with progress_bar(console=console) as bar:
        display = RunDisplay(bar, 0, 40, Every(20, 40), Every(10, 40), ("semantic",),
                             BestScores(("semantic",)), clock=clock)  # fmt: skip
        for step in (5, 10, 15, 20):
            display.step(step, 0.75, 2.0)
        validated(display, clock, 20)
        for step in (30, 40):
            display.step(step, 0.5, 2.0)
        validated(display, clock, 40)
    assert console.file.getvalue() == ""  # rich's final render of the bar, the second copy
    assert capsys.readouterr().out.splitlines() == [
        "step 10/40  loss 0.7500  2.00 steps/s  ETA 0:00:15",  # 30 steps; no validation measured
        "step 20/40  loss 0.7500  2.00 steps/s  ETA 0:00:10",  # 20 steps
        "step 20/40  validating 4 images",
        "step 20/40  val  mean IU 0.4500  pixel accuracy 0.8750  best mean IU 0.4500 at step 20"
        "  (4 images, 16.0 s)",
        "step 30/40  loss 0.5000  2.00 steps/s  ETA 0:00:13",  # 5 s, and 4 images in 8 s
        "step 40/40  loss 0.5000  2.00 steps/s  ETA 0:00:08",
        "step 40/40  validating 4 images",
        "step 40/40  val  mean IU 0.4500  pixel accuracy 0.8750  best mean IU 0.4500 at step 20"
        "  (4 images, 16.0 s)",
    ]


@pytest.mark.slow
def test_a_run_off_a_terminal_prints_each_step_once(tmp_path, capsys):
    from fcn_jax.train.loop import train_and_evaluate

    train_and_evaluate(tiny_config(), tmp_path / "run")
    lines = capsys.readouterr().out.splitlines()
    steps = [line.split("  ")[0] for line in lines if "  loss " in line]
    assert steps == ["step 1/4", "step 2/4", "step 3/4", "step 4/4"]
    assert [line.split("  ")[0] for line in lines if "  val  " in line] == ["step 2/4", "step 4/4"]
    assert sum("validating 3 images" in line for line in lines) == 2


def fake_siftflow(root) -> None:
    """Eight 64x64 scenes in SIFT Flow's layout, two of them the test set."""
    from PIL import Image
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    sub = "spatial_envelope_256x256_static_8outdoorcategories"
    for folder in ("Images", "SemanticLabels", "GeoLabels"):
        (root / folder / sub).mkdir(parents=True)
    for k, name in enumerate([f"coast_a{k}" for k in range(6)] + ["forest_f1", "street_s1"]):
        image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "Images" / sub / f"{name}.jpg")
        semantic = np.full((64, 64), 28, np.int32)
        semantic[32:] = 1 + k % 5
        savemat(root / "SemanticLabels" / sub / f"{name}.mat", {"S": semantic})
        savemat(root / "GeoLabels" / sub / f"{name}.mat", {"S": np.full((64, 64), 1 + k % 3)})
    (root / "TestSet1.txt").write_text("forest\\forest_f1.jpg\nstreet\\street_s1.jpg\n")


@pytest.mark.slow
def test_a_two_task_run_says_each_tasks_scores(tmp_path, capsys):
    from fcn_jax import cli

    fake_siftflow(tmp_path / "manual" / "SiftFlowDataset")
    data = str(tmp_path / "data")
    cli.main(["data", "prepare", "siftflow", "--manual-dir", str(tmp_path / "manual"),
              "--data-dir", data])  # fmt: skip
    capsys.readouterr()
    flags = [*tiny_flags(tasks=("semantic", "geometric")), "--config.dataset=siftflow",
             f"--config.data_dir={data}"]  # fmt: skip
    assert cli.main(["train", "--workdir", str(tmp_path / "run"), *flags]) == 0
    out = capsys.readouterr().out
    final = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    semantic, geometric = final["mean_iu"], final["geometric"]["mean_iu"]
    line = next(line for line in out.splitlines() if line.startswith("step 4/4  val  "))
    assert f"semantic: mean IU {semantic:.4f}" in line
    assert f"| geometric: mean IU {geometric:.4f}" in line
    assert f"\ngeometric\n pixel_accuracy  {final['geometric']['pixel_accuracy']:.4f}" in out
    assert cli.main(["eval", "--workdir", str(tmp_path / "run"), "--checkpoint", "latest"]) == 0
    evaluated = capsys.readouterr().out  # the last step's checkpoint: the final scores again
    assert f"\ngeometric\n pixel_accuracy  {final['geometric']['pixel_accuracy']:.4f}" in evaluated
