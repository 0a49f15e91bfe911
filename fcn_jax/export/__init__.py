"""A net as one file another runtime runs: serialized StableHLO (``jax.export``), its params
baked in as constants, with a JSON of the preprocessing and class names beside it."""
