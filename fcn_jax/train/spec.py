"""The model description: what a checkpoint stores beside the weights so that evaluation,
prediction and a resumed run rebuild exactly the net that was trained, with its
preprocessing."""

from __future__ import annotations

from functools import partial

from fcn_jax.data.preprocessing import from_json
from fcn_jax.data.transforms import labels_of, model_input
from fcn_jax.models import build
from fcn_jax.train.metrics import scores
from fcn_jax.train.step import make_eval_step
from fcn_jax.weights.init_from import InitError, load_variables
from fcn_jax.weights.surgery import transplant


def model_description(config, dataset) -> dict:
    """What eval and predict need to rebuild the net and its preprocessing."""
    return {
        "arch": config.arch,
        "num_classes": dataset.num_classes,
        "align": config.align,
        "width": config.width,
        "learnable_upsampling": config.learnable_upsampling,
        "train_bn": config.get("train_bn", False),
        "aux": bool(config.get("aux_loss_weight", 0.0)),
        "dataset": config.dataset,
        "class_names": list(dataset.class_names),
        "mean_rgb": list(dataset.mean_rgb),
    }


def run_description(config, dataset, tasks: tuple[str, ...], inputs: str) -> dict:
    """The full description of the net a config trains on ``dataset``: heads per task, input
    channels, late-fusion streams and the means to subtract."""
    counts = [dataset.num_classes] + [len(dataset.task_class_names[t]) for t in tasks[1:]]
    heads = [[HEAD_NAMES[t], n] for t, n in zip(tasks, counts, strict=True)] if tasks[1:] else []
    return {
        **model_description(config, dataset),
        "tasks": list(tasks),
        "heads": heads,
        "inputs": inputs,
        "streams": inputs.split("|") if "|" in inputs else [],
        "extra_means": dataset.extra_means,
    }


def class_counts(description: dict) -> list[int]:
    """Classes per task."""
    return [n for _, n in description["heads"]] or [description["num_classes"]]


def dataset_options(config) -> dict:
    """The dataset's own settings, from a config (or its JSON as a dict)."""
    get = config.get
    return {
        "seed": get("seed", 0),
        "num_train": get("num_train", 2000),
        "num_val": get("num_val", 100),
        "sizes": tuple(get("image_sizes", (96, 112, 128))),
        "on_error": get("on_error", "raise"),
        "data_dir": get("data_dir", None) or None,
    }


def initialise(variables: dict, init_from: str, streams: list[str]) -> tuple[dict, list[str]]:
    """``variables`` (params and batch-norm statistics) with layers copied from ``init_from``:
    one source, or for a late-fusion net one source per stream separated by '|' (e.g.
    'runs/nyud_color|runs/nyud_hha')."""

    def copy(target: dict, source: dict, where: str) -> tuple[dict, list[str]]:
        result, copied = {}, {}
        for collection, tree in target.items():
            result[collection], copied[collection] = transplant(tree, source.get(collection, {}))
        if not copied["params"]:
            raise InitError(f"init_from {where}: no layer's name and shapes match the net's "
                            f"({', '.join(list(source['params'])[:6])}, ...)")  # fmt: skip
        norms = set(target.get("batch_stats", {}))
        lacking = [n for n in copied["params"] if n in norms and n not in copied["batch_stats"]]
        if lacking:
            raise InitError(f"init_from {where}: batch norms {', '.join(lacking[:6])} come "
                            "without their running statistics")  # fmt: skip
        return result, copied["params"]

    if not streams:
        return copy(variables, load_variables(init_from), init_from)
    sources = init_from.split("|")
    if len(sources) != len(streams):
        raise ValueError(f"init_from {init_from!r} needs one source per stream {streams}")
    params, copied = dict(variables["params"]), []
    for stream, source in zip(streams, sources, strict=True):
        params[stream], names = transplant(params[stream], load_variables(source)["params"])
        if not names:
            raise InitError(f"init_from {source}: no layer matches stream {stream!r}")
        copied += [f"{stream}/{name}" for name in names]
    return {**variables, "params": params}, copied


HEAD_NAMES = {"semantic": "sem", "geometric": "geo"}  # layer suffixes, as the reference's


def eval_parts(model, description: dict) -> tuple:
    """(eval_step, preprocess, targets) for a model description."""
    heads = description.get("heads", ())
    counts = tuple(n for _, n in heads) or description["num_classes"]
    eval_step = make_eval_step(model, counts, tuple(name for name, _ in heads))
    prep = partial(model_input, inputs=description.get("inputs", "color"),
                   means=input_means(description))  # fmt: skip
    targets = partial(labels_of, tasks=description.get("tasks", ("semantic",)), where="val")
    return eval_step, prep, targets


def scores_by_task(confusions: list, tasks) -> dict:
    """The first task's scores, with every further task's scores under its name."""
    result = scores(confusions[0])
    for task, confusion in zip(tasks[1:], confusions[1:], strict=True):
        result[task] = scores(confusion)
    return result


def input_means(description: dict) -> dict:
    """The means :func:`~fcn_jax.data.transforms.model_input` needs, from a model description:
    for colour, the normalisation stored with the weights the run started from, if any, else
    the dataset's mean."""
    stored = description.get("preprocessing")
    colour = tuple(description["mean_rgb"]) if stored is None else from_json(stored, "model")
    return {"color": colour, **description.get("extra_means", {})}


def model_from(description: dict):
    return build(
        description["arch"],
        description["num_classes"],
        align=description["align"],
        width=description["width"],
        learnable_upsampling=description["learnable_upsampling"],
        streams=tuple(description.get("streams", ())),
        in_channels=4 if description.get("inputs") == "color+depth" else 3,
        heads=tuple((name, count) for name, count in description.get("heads", ())),
        train_bn=description.get("train_bn", False),
        aux=description.get("aux", False),
    )
