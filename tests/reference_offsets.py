"""Crop offsets of the reference nets (voc-fcn*/net.py, torchfcn): the independent values
our geometry must derive."""

OFFSETS = {
    "fcn32s": {"score": 19},
    "fcn16s": {"score_pool4c": 5, "score": 27},
    "fcn8s": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    "fcn8s-atonce": {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    "fcn-alexnet": {"score": 18},
}
