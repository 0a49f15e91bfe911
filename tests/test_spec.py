"""The run description: every format checkpoints were written in reads back with the values
the code of its time used; a spec survives its JSON form; a bad field is named."""

import json

import jax
import pytest

from fcn_jax.data.preprocessing import Normalisation
from fcn_jax.train.checkpoint import CheckpointMismatch, check_same_net
from fcn_jax.train.spec import RunSpec, model_from

SYNTHETIC = ["background", "disc", "square", "triangle", "bar", "ring"]

# As each version wrote it (the keys of describe.py / train.py's model_description and
# run_description at the commit named), for a small net.
FIRST = json.loads("""{
    "arch": "fcn8s", "num_classes": 6, "align": "same", "width": 0.125,
    "learnable_upsampling": false, "dataset": "synthetic",
    "class_names": ["background", "disc", "square", "triangle", "bar", "ring"],
    "mean_rgb": [120.5, 118, 110.25]
}""")  # 6c88ffd
NYUD_INPUTS = json.loads("""{
    "arch": "fcn32s", "num_classes": 40, "align": "caffe", "width": 1.0,
    "learnable_upsampling": false, "dataset": "nyud", "class_names": [],
    "mean_rgb": [116.19, 97.203, 92.318],
    "inputs": "color+depth", "extra_means": {"log_depth": 7.844, "hha": [132.431, 94.076, 118.477]}
}""")  # 70c1a26
LATE_FUSION = json.loads("""{
    "arch": "fcn32s", "num_classes": 40, "align": "caffe", "width": 1.0,
    "learnable_upsampling": false, "dataset": "nyud", "class_names": [],
    "mean_rgb": [116.19, 97.203, 92.318], "inputs": "color|hha",
    "streams": ["color", "hha"], "extra_means": {"hha": [132.431, 94.076, 118.477]}
}""")  # 53ab377
TWO_TASKS = json.loads("""{
    "arch": "fcn16s", "num_classes": 33, "align": "caffe", "width": 1.0,
    "learnable_upsampling": false, "dataset": "siftflow", "class_names": [],
    "mean_rgb": [111.5, 110.0, 105.5], "tasks": ["semantic", "geometric"],
    "heads": [["sem", 33], ["geo", 3]], "inputs": "color", "streams": [], "extra_means": {}
}""")  # 7a8f960 (also b372091's describe.py)
STORED_PREPROCESSING = {
    **TWO_TASKS,
    "tasks": ["semantic"],
    "heads": [],
    "preprocessing": {"order": "rgb", "mean": [123.675, 116.28, 103.53], "std": [58.4, 57.1, 57.4]},
}  # e5a718e
TRAIN_BN = {**FIRST, "arch": "fcn-resnet50", "train_bn": True, "tasks": ["semantic"],
            "heads": [], "inputs": "color", "streams": [], "extra_means": {}}  # fmt: skip
AUX = {**TRAIN_BN, "aux": True}  # f9dcceb up to now (plus kernels)


def test_the_first_format_reads_as_a_colour_one_task_net_with_its_dataset_mean():
    spec = RunSpec.from_json(FIRST, "first")
    assert (spec.arch, spec.num_classes, spec.align, spec.width) == ("fcn8s", 6, "same", 0.125)
    assert spec.class_names == tuple(SYNTHETIC) and spec.mean_rgb == (120.5, 118.0, 110.25)
    assert (spec.inputs, spec.streams, spec.tasks, spec.heads) == ("color", (), ("semantic",), ())
    assert not spec.train_bn and not spec.aux and spec.preprocessing is None
    assert spec.kernels == "auto"
    assert spec.input_means() == {"color": (120.5, 118.0, 110.25)}
    assert spec.class_counts() == [6]


def test_nyud_inputs_keep_their_extra_means_and_early_fusion_takes_four_channels():
    spec = RunSpec.from_json(NYUD_INPUTS, "nyud")
    assert spec.inputs == "color+depth" and spec.streams == () and spec.tasks == ("semantic",)
    assert spec.input_means() == {
        "color": (116.19, 97.203, 92.318),
        "log_depth": 7.844,
        "hha": (132.431, 94.076, 118.477),
    }
    small = RunSpec.from_json({**NYUD_INPUTS, "width": 1 / 32}, "nyud")
    shapes = jax.eval_shape(
        model_from(small).init, jax.random.key(0), jax.ShapeDtypeStruct((1, 64, 64, 4), "float32")
    )
    assert shapes["params"]["conv1_1"]["kernel"].shape == (3, 3, 4, 2)  # RGB-D in, 64/32 out


def test_late_fusion_reads_one_stream_per_input():
    spec = RunSpec.from_json(LATE_FUSION, "late")
    assert spec.streams == ("color", "hha") and spec.heads == () and spec.aux is False
    small = RunSpec.from_json({**LATE_FUSION, "width": 1 / 32}, "late")
    shapes = jax.eval_shape(
        model_from(small).init, jax.random.key(0), jax.ShapeDtypeStruct((1, 64, 64, 6), "float32")
    )
    assert {"color", "hha"} <= set(shapes["params"])


def test_two_tasks_read_with_a_head_each():
    spec = RunSpec.from_json(TWO_TASKS, "siftflow")
    assert spec.tasks == ("semantic", "geometric")
    assert spec.heads == (("sem", 33), ("geo", 3)) and spec.class_counts() == [33, 3]
    assert spec.preprocessing is None and spec.train_bn is False


def test_stored_preprocessing_replaces_the_dataset_mean():
    spec = RunSpec.from_json(STORED_PREPROCESSING, "stored")
    expected = Normalisation("rgb", (123.675, 116.28, 103.53), (58.4, 57.1, 57.4))
    assert spec.preprocessing == expected and spec.input_means() == {"color": expected}


def test_batch_norm_and_auxiliary_head_flags_read_as_written():
    assert RunSpec.from_json(TRAIN_BN, "bn").train_bn is True
    assert RunSpec.from_json(TRAIN_BN, "bn").aux is False
    assert RunSpec.from_json(AUX, "aux").aux is True
    assert RunSpec.from_json({**AUX, "kernels": "xla"}, "now").kernels == "xla"


def test_a_checkpoint_of_the_first_format_is_the_same_net_as_todays_description():
    today = {**FIRST, "train_bn": False, "aux": False, "tasks": ["semantic"], "heads": [],
             "inputs": "color", "streams": [], "extra_means": {}, "kernels": "xla"}  # fmt: skip
    check_same_net(RunSpec.from_json(FIRST, "old"), RunSpec.from_json(today, "new"), "run")
    with pytest.raises(CheckpointMismatch, match=r"aux False \(saved\) vs True \(config\)"):
        check_same_net(RunSpec.from_json(FIRST, "old"), RunSpec.from_json(AUX, "new"), "run")


FULL = RunSpec(
    arch="fcn16s",
    num_classes=33,
    align="caffe",
    width=0.5,
    learnable_upsampling=True,
    train_bn=True,
    aux=False,
    dataset="siftflow",
    class_names=("sky", "tree"),
    mean_rgb=(1.5, 2.0, 3.25),
    tasks=("semantic", "geometric"),
    heads=(("sem", 33), ("geo", 3)),
    inputs="color|hha",
    streams=("color", "hha"),
    extra_means=(("hha", (4.0, 5.0, 6.0)), ("log_depth", 7.5)),
    preprocessing=Normalisation("bgr", (10.0, 20.0, 30.0), (2.0, 3.0, 4.0)),
    kernels="xla",
)


def test_a_spec_survives_its_json_form():
    written = json.loads(json.dumps(FULL.to_json()))
    assert list(written) == [
        "arch", "num_classes", "align", "width", "learnable_upsampling", "train_bn", "aux",
        "dataset", "class_names", "mean_rgb", "tasks", "heads", "inputs", "streams",
        "extra_means", "preprocessing", "kernels",
    ]  # fmt: skip
    assert written["heads"] == [["sem", 33], ["geo", 3]]
    assert written["extra_means"] == {"hha": [4.0, 5.0, 6.0], "log_depth": 7.5}
    assert written["preprocessing"] == {"order": "bgr", "mean": [10, 20, 30], "std": [2, 3, 4]}
    assert RunSpec.from_json(written, "round trip") == FULL
    plain = RunSpec.from_json({**written, "preprocessing": None}, "plain")
    assert "preprocessing" not in plain.to_json()  # as checkpoints without one wrote it


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"arch": 8}, "field 'arch' must be a string"),
        ({"num_classes": "21"}, "field 'num_classes' must be a positive integer"),
        ({"num_classes": True}, "field 'num_classes' must be a positive integer"),
        ({"width": [1]}, "field 'width' must be a number"),
        ({"learnable_upsampling": 1}, "field 'learnable_upsampling' must be true or false"),
        ({"mean_rgb": [1, 2]}, "field 'mean_rgb' must be 3 numbers"),
        ({"heads": [["sem"]]}, r"field 'heads' must be a list of \[suffix, classes\] pairs"),
        ({"extra_means": {"hha": "x"}}, "field 'extra_means' must be a number"),
        ({"preprocessing": {"order": "hsv"}}, r"field 'preprocessing': preprocessing.order"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_a_bad_field_is_one_line_naming_it_and_the_checkpoint(change, named):
    with pytest.raises(ValueError, match=rf"^runs/x/checkpoints/4: .*{named}") as error:
        RunSpec.from_json({**FIRST, **change}, "runs/x/checkpoints/4")
    assert "\n" not in str(error.value)


def test_a_missing_field_every_version_wrote_is_named():
    partial = {k: v for k, v in FIRST.items() if k != "mean_rgb"}
    with pytest.raises(ValueError, match=r"^ckpt: the run description lacks field 'mean_rgb'$"):
        RunSpec.from_json(partial, "ckpt")


def test_eval_reads_the_dataset_settings_of_a_config_json_older_than_some_fields(tmp_path):
    from fcn_jax.cli.training import saved_config
    from fcn_jax.train.loop import DATASET_FIELDS

    # written before on_error and data_dir existed, when keep_freed_memory was a bool
    old = {"dataset": "synthetic", "seed": 3, "num_train": 5, "image_sizes": [64, 80],
           "keep_freed_memory": True}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(old))
    config = saved_config(tmp_path, DATASET_FIELDS)
    assert (config.seed, config.num_train, tuple(config.image_sizes)) == (3, 5, (64, 80))
    assert (config.num_val, config.on_error, config.data_dir) == (100, "raise", "")
