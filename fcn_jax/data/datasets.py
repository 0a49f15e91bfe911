"""Opening a dataset by name: one explicit match, no registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcn_jax.data import synthetic

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
) -> Dataset:
    """The train and validation sources of dataset ``name`` (the keyword options are the
    synthetic dataset's)."""
    match name:
        case "synthetic":
            return Dataset(
                name,
                synthetic.SyntheticScenes("train", num_train, seed, sizes),
                synthetic.SyntheticScenes("val", num_val, seed, sizes),
                synthetic.CLASS_NAMES,
                synthetic.MEAN_RGB,
            )
        case _ if name in PREPARED_LATER or name.startswith("folder:"):
            raise DatasetNotReady(
                f"dataset {name!r} is not prepared on this machine. It is built from the "
                f"official archives with `fcn-jax data prepare {name.split(':')[0]} --manual-dir "
                "DIR` (TFDS builders and folder datasets are issue #4 and not in this release); "
                "until then only 'synthetic' is available."
            )
        case _:
            raise ValueError(
                f"unknown dataset {name!r}; known: synthetic, {', '.join(PREPARED_LATER)}"
            )
