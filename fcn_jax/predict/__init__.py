"""Whole-image prediction from a trained workdir or converted weights (``segment``)."""
