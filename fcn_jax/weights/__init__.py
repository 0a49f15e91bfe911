"""Weight importers: other implementations' parameters as params for our modules."""

from fcn_jax.weights.bundle import load_bundle, save_bundle
from fcn_jax.weights.caffemodel import CaffeError, read_caffemodel
from fcn_jax.weights.importers import (
    FORMATS,
    convert,
    from_caffemodel,
    from_torchvision_resnet,
    from_torchvision_vgg16,
    import_layers,
)
from fcn_jax.weights.torchfcn import from_torchfcn, state_to_params

__all__ = [
    "FORMATS",
    "CaffeError",
    "convert",
    "from_caffemodel",
    "from_torchfcn",
    "from_torchvision_resnet",
    "from_torchvision_vgg16",
    "import_layers",
    "load_bundle",
    "read_caffemodel",
    "save_bundle",
    "state_to_params",
]
