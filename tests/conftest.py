"""Test set-up: 8 simulated CPU devices, set before jax is imported anywhere."""

import os

flag = "--xla_force_host_platform_device_count=8"
if flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
