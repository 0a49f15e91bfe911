"""fcn_jax: Fully Convolutional Networks (Long, Shelhamer, Darrell) in JAX/Flax Linen."""

__version__ = "0.1.0"
