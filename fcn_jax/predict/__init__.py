"""Whole-image prediction (``segment``) and the pictures made from it (``viz``)."""
