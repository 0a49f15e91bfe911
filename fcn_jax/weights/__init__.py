"""Weight importers: other implementations' parameters as params for our modules."""

from fcn_jax.weights.torchfcn import from_torchfcn, infer_options, state_to_params

__all__ = ["from_torchfcn", "infer_options", "state_to_params"]
