"""The paper's experiments as scripts: ``python -m experiments.NAME`` (see run_all)."""
