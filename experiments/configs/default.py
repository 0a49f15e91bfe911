"""The built-in default: width-reduced FCN-8s on the synthetic dataset (about ten minutes on
two CPU cores). `fcn-jax train` with no --config uses exactly this.

    fcn-jax train --config experiments/configs/default.py --workdir runs/default
"""

from fcn_jax.default_config import get_config

__all__ = ["get_config"]
