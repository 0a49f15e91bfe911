"""Benchmarks: ours against PyTorch on the same machine (see ``benchmarks.run``).

JAX and PyTorch share one accelerator in these runs, so JAX is told not to take 75% of its
memory up front (no effect on a CPU); set the variable yourself to override.
"""

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
