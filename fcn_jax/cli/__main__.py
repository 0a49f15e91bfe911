from fcn_jax.cli import entry

entry()
