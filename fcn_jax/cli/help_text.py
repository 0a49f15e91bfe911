"""What ``fcn-jax --help`` says of the tool: a description, and each command with an example."""

from __future__ import annotations

import shutil
import textwrap

__all__ = ["DESCRIPTION", "EPILOG", "wrapped"]

DESCRIPTION = (
    "Fully Convolutional Networks for semantic segmentation (Long, Shelhamer, Darrell) in "
    "JAX/Flax: train and evaluate the paper's nets, import the released weights, segment "
    "images, and read a net's geometry."
)
EPILOG = """examples:
  fcn-jax train --workdir runs/first             the built-in run: a small FCN-8s, synthetic data
  fcn-jax train --config experiments/configs/voc_fcn32s.py --workdir runs/voc_fcn32s
  fcn-jax config                                 every config field, its default and meaning
  fcn-jax eval --workdir runs/first              mean IU and the rest on the validation split
  fcn-jax predict --workdir runs/first IMAGE.jpg --out predictions
  fcn-jax convert --from caffe fcn8s-heavy-pascal.caffemodel --out weights/fcn8s
  fcn-jax geometry fcn8s                         each layer's stride, receptive field and crop
  fcn-jax data prepare voc2012 --manual-dir DIR  build a dataset from its official files
  fcn-jax data info voc2012                      its splits, example counts and classes

fcn-jax COMMAND --help tells more; --debug shows a Python traceback instead of a one-line error."""


def wrapped(text: str) -> str:
    """``text`` filled to the width argparse uses, for the parsers that print it raw."""
    width = min(100, shutil.get_terminal_size().columns) - 2
    return textwrap.fill(text, width, break_on_hyphens=False)
