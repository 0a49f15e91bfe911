"""Datasets built with TFDS: ``prepare`` from the official files, ``open`` without TensorFlow.

Prepared datasets are ArrayRecord files under a data directory (``--data-dir``, default
``~/tensorflow_datasets``), read back through ``tfds`` data sources.
"""

from __future__ import annotations

from pathlib import Path

BUILT = ("voc2012", "voc2011", "sbd", "voc_sbd", "pascal_context", "siftflow", "nyud")


class DatasetNotReady(RuntimeError):
    """The dataset has not been prepared on this machine (or has no builder yet)."""


def default_data_dir() -> Path:
    return Path("~/tensorflow_datasets").expanduser()


def builder(name: str, data_dir: str | Path | None = None):
    """The TFDS builder of dataset ``name`` (one explicit match, no registry)."""
    from fcn_jax.data import nyud, pascal_context, sbd, siftflow, voc

    data_dir = str(data_dir or default_data_dir())
    match name:
        case "voc2012":
            cls = voc.Voc2012
        case "voc2011":
            cls = voc.Voc2011
        case "sbd":
            cls = sbd.Sbd
        case "voc_sbd":
            cls = sbd.VocSbd
        case "pascal_context":
            cls = pascal_context.PascalContext
        case "siftflow":
            cls = siftflow.Siftflow
        case "nyud":
            cls = nyud.Nyud
        case _:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(BUILT)}")
    return cls(data_dir=data_dir, file_format="array_record")


def prepare(name: str, manual_dir: str | Path, data_dir: str | Path | None = None) -> Path:
    """Check every example of ``name`` under ``manual_dir``, then write it; return its dir."""
    import tensorflow_datasets as tfds

    b = builder(name, data_dir)
    manual_dir = Path(manual_dir)
    if not manual_dir.is_dir() or not any(manual_dir.iterdir()):
        raise FileNotFoundError(f"{manual_dir}: missing or empty. {b.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    b.download_and_prepare(download_config=config)
    return Path(b.data_dir)


def open_prepared(name: str, data_dir: str | Path | None = None) -> dict:
    """{'train', 'val', 'class_names', 'mean_rgb'} of a prepared dataset; decoded on access."""
    b = builder(name, data_dir)
    if not b.is_prepared():
        raise DatasetNotReady(
            f"dataset {name!r} is not prepared in {b.data_dir_root}: run `fcn-jax data prepare "
            f"{name} --manual-dir DIR` with the official files in DIR"
        )
    from fcn_jax.data.encoded import Decoded

    sources = b.as_data_source()
    metadata = b.info.metadata
    return {
        "train": Decoded(sources["train"]),
        "val": Decoded(sources["val"]),
        "class_names": tuple(metadata["class_names"]),
        "mean_rgb": tuple(metadata["mean_rgb"]),
        "task_class_names": (
            {"geometric": tuple(metadata["geo_class_names"])}
            if "geo_class_names" in metadata
            else {}
        ),
        "extra_means": {
            key.removeprefix("mean_"): value
            for key, value in metadata.items()
            if key.startswith("mean_") and key != "mean_rgb"
        },
    }


def info(name: str, data_dir: str | Path | None = None) -> dict:
    """Splits with example counts, and class names, of a prepared dataset."""
    b = builder(name, data_dir)
    if not b.is_prepared():
        raise DatasetNotReady(f"dataset {name!r} is not prepared in {b.data_dir_root}")
    splits = {split: int(s.num_examples) for split, s in b.info.splits.items()}
    return {"name": name, "splits": splits, "class_names": list(b.info.metadata["class_names"])}
