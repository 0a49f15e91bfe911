"""The built-in default: width-reduced FCN-8s on the synthetic dataset (the time it takes:
fcn_jax/default_config.py). `fcn-jax train` with no --config uses exactly this.

    fcn-jax train --config experiments/configs/default.py --workdir runs/default
"""

from fcn_jax.default_config import get_config

__all__ = ["get_config"]
