"""A convolutionalized classifier: the trunk and its last fully connected layer as a 1x1 conv.

On its own input size (224 for VGG16, 227 for CaffeNet) it is the classifier: one cell of class
scores. On a bigger image it gives a coarse map of scores, one cell per ``stride`` pixels (the
paper's Fig. 2 heatmap). It keeps the classifier's own padding (VGG16 conv pad 1, no pad 100).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
from flax import linen as nn

from fcn_jax.geometry import Trace, Window
from fcn_jax.layers import Conv


class Classifier(nn.Module):
    """``trunk()`` layers then ``fc8`` (``num_classes`` 1x1 filters); returns (N, h, w, classes)
    scores. ``record`` receives ``(name, layer, trace, shape)`` per layer, as in FCN."""

    num_classes: int
    trunk: Callable[[], Sequence[nn.Module]]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record=None):
        if x.ndim != 4:
            raise ValueError(f"expected NHWC images, got an array of shape {x.shape}")
        h, trace = x, Trace.input(*x.shape[1:3])
        for layer in (*self.trunk(), Conv(self.num_classes, 1, name="fc8")):
            if isinstance(layer.op, Window) and min(map(layer.op.out_size, h.shape[1:3])) < 1:
                raise ValueError(
                    f"input of {x.shape[1]}x{x.shape[2]} pixels is too small for this "
                    f"classifier: layer {layer.name} gets {h.shape[1]}x{h.shape[2]}"
                )
            h = layer(h, train)
            if layer.op is not None:
                trace = trace.through(layer.op, h.shape[1:3], layer.name)
            if record is not None:
                record(layer.name, layer, trace, h.shape)
        return h
