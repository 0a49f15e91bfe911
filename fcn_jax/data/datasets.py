"""Opening a dataset by name: one explicit match, no registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fcn_jax.data import synthetic
from fcn_jax.data.folder import open_folder
from fcn_jax.data.prepared import BUILT, DatasetNotReady

__all__ = ["KNOWN", "PREPARED", "Dataset", "DatasetNotReady", "describe", "open_dataset"]

# Built with TFDS from the official files (fcn_jax.data.prepared, whose builders and TFDS are
# imported only when one is opened).
PREPARED = BUILT
KNOWN = f"synthetic, folder:PATH, {', '.join(PREPARED)}"  # every name open_dataset takes


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Any
    val: Any
    class_names: tuple[str, ...]
    mean_rgb: tuple[float, float, float]
    extra_means: dict = field(default_factory=dict)  # e.g. NYUD's 'hha' and 'log_depth'
    task_class_names: dict = field(default_factory=dict)  # e.g. SIFT Flow's 'geometric'

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def open_dataset(
    name: str,
    *,
    seed: int = 0,
    num_train: int = 2000,
    num_val: int = 100,
    sizes: tuple[int, ...] = (96, 112, 128),
    on_error: str = "raise",
    data_dir: str | None = None,
) -> Dataset:
    """The train and validation sources of dataset ``name``: 'synthetic' (options ``seed``,
    ``num_train``, ``num_val``, ``sizes``) or 'folder:PATH' (option ``on_error``: 'raise' or
    'skip' bad pairs, which are reported) or a prepared dataset (option ``data_dir``)."""
    match name:
        case "synthetic":
            return Dataset(
                name,
                synthetic.SyntheticScenes("train", num_train, seed, sizes),
                synthetic.SyntheticScenes("val", num_val, seed, sizes),
                synthetic.CLASS_NAMES,
                synthetic.MEAN_RGB,
            )
        case _ if name.startswith("folder:"):
            folder = open_folder(name.removeprefix("folder:"), on_error=on_error)
            if folder.skipped:
                print(f"skipped {len(folder.skipped)} bad pairs:")
                for reason in folder.skipped:
                    print(f"  {reason}")
            return Dataset(name, folder.train, folder.val, folder.class_names, folder.mean_rgb)
        case _ if name in PREPARED:
            from fcn_jax.data.prepared import open_prepared

            splits = open_prepared(name, data_dir)
            return Dataset(
                name,
                splits["train"],
                splits["val"],
                splits["class_names"],
                splits["mean_rgb"],
                splits["extra_means"],
                splits["task_class_names"],
            )
        case _:
            raise ValueError(f"unknown dataset {name!r}; known: {KNOWN}")


def describe(name: str) -> dict:
    """``fcn-jax data info`` of a dataset that needs no preparing ('synthetic', 'folder:PATH'):
    its splits' sizes (the synthetic one's at their defaults) and class names."""
    if name != "synthetic" and not name.startswith("folder:"):
        raise ValueError(f"{name!r} is a prepared dataset, or unknown; known: {KNOWN}")
    dataset = open_dataset(name)
    splits = {"train": len(dataset.train), "val": len(dataset.val)}
    found = {"name": name, "splits": splits, "class_names": list(dataset.class_names)}
    if name == "synthetic":
        found["note"] = "generated on the fly; config.num_train and config.num_val set the sizes"
    return found
