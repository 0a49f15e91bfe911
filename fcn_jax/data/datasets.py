"""Opening a dataset by name: one explicit match, no registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcn_jax.data import synthetic
from fcn_jax.data.folder import open_folder

PREPARED_LATER = ("voc2011", "voc2012", "sbd", "voc_sbd", "siftflow", "nyud", "pascal_context")


class DatasetNotReady(RuntimeError):
    """The dataset exists in the paper but has not been prepared on this machine."""


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Any
    val: Any
    class_names: tuple[str, ...]
    mean_rgb: tuple[float, float, float]

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
) -> Dataset:
    """The train and validation sources of dataset ``name``: 'synthetic' (options ``seed``,
    ``num_train``, ``num_val``, ``sizes``) or 'folder:PATH' (option ``on_error``: 'raise' or
    'skip' bad pairs, which are reported)."""
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
        case _ if name in PREPARED_LATER:
            raise DatasetNotReady(
                f"dataset {name!r} is not prepared on this machine. It is built from the "
                f"official archives with `fcn-jax data prepare {name} --manual-dir DIR` (the "
                "TFDS builders are issue #4 and not in this release); until then use "
                "'synthetic' or your own 'folder:PATH'."
            )
        case _:
            raise ValueError(
                f"unknown dataset {name!r}; known: synthetic, folder:PATH, "
                f"{', '.join(PREPARED_LATER)}"
            )
