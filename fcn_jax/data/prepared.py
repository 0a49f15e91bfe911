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


def official_files(name: str, urls: bool = True) -> str:
    """What ``fcn-jax data prepare NAME --manual-dir DIR`` needs in DIR: the official archives
    (or the folders they extract to), with where each is published if ``urls``."""
    from fcn_jax.data import nyud, pascal_context, sbd, siftflow, voc

    def named(archive: tuple[str, str]) -> str:
        return f"{archive[0]} ({archive[1]})" if urls else archive[0]

    match name:
        case "voc2012" | "voc2011":
            files = named(voc.ARCHIVES[int(name[3:])])
        case "sbd":
            files = named(sbd.ARCHIVE)
        case "voc_sbd":
            files = f"{named(sbd.ARCHIVE)} and {named(voc.ARCHIVES[2011])}"
        case "pascal_context":
            files = f"{named(pascal_context.ARCHIVE)} and {named(voc.ARCHIVES[2010])}"
        case "siftflow":
            files = named(siftflow.ARCHIVE)
        case "nyud":
            layout = (
                "data/images/, data/depth/, data/hha/, segmentation/, train.txt, val.txt, test.txt"
            )
            source = f" ({nyud.HOMEPAGE})" if urls else ""
            return f"the 40-class NYUD folder of Gupta et al.{source}: {layout}"
        case _:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(BUILT)}")
    return f"{files}, or what {'they extract' if ' and ' in files else 'it extracts'} to"


def prepare_command(name: str, data_dir: str | Path | None = None) -> str:
    """The command that prepares ``name`` where ``data_dir`` (None: the default) says."""
    where = f" --data-dir {data_dir}" if data_dir else ""
    return f"fcn-jax data prepare {name} --manual-dir DIR{where}"


def not_prepared(name: str, data_dir: str | Path | None = None) -> DatasetNotReady:
    """The one-line error for a dataset not prepared in ``data_dir``: the command to run, and
    what its DIR must hold."""
    root = Path(data_dir) if data_dir else default_data_dir()
    return DatasetNotReady(
        f"dataset {name!r} is not prepared in {root}: run `{prepare_command(name, data_dir)}`, "
        f"DIR holding {official_files(name)}"
    )


def check_manual_dir(name: str, manual_dir: str | Path) -> None:
    """Raise FileNotFoundError, saying what it must hold, if ``manual_dir`` is missing or empty."""
    manual_dir = Path(manual_dir)
    if not manual_dir.is_dir() or not any(manual_dir.iterdir()):
        raise FileNotFoundError(f"{manual_dir}: missing or empty; it must hold "
                                f"{official_files(name)}")  # fmt: skip


def prepare(
    name: str, manual_dir: str | Path, data_dir: str | Path | None = None, progress: bool = False
) -> Path:
    """Check every example of ``name`` under ``manual_dir``, then write it; return its dir.
    TFDS's own lines (it says "Downloading", though nothing is) are not shown; its progress
    bars only with ``progress``."""
    import contextlib
    import io

    import tensorflow_datasets as tfds

    b = builder(name, data_dir)
    check_manual_dir(name, manual_dir)
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    if progress:
        tfds.enable_progress_bar()
    else:
        tfds.disable_progress_bar()
    with contextlib.redirect_stdout(io.StringIO()):  # TFDS prints, not logs, those lines
        b.download_and_prepare(download_config=config)
    return Path(b.data_dir)


def open_prepared(name: str, data_dir: str | Path | None = None) -> dict:
    """{'train', 'val', 'class_names', 'mean_rgb'} of a prepared dataset; decoded on access."""
    b = builder(name, data_dir)
    if not b.is_prepared():
        raise not_prepared(name, data_dir)
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
    """Splits with example counts, class names and where, of a prepared dataset."""
    b = builder(name, data_dir)
    if not b.is_prepared():
        raise not_prepared(name, data_dir)
    splits = {split: int(s.num_examples) for split, s in b.info.splits.items()}
    return {"name": name, "splits": splits, "class_names": list(b.info.metadata["class_names"]),
            "path": str(b.data_dir)}  # fmt: skip
