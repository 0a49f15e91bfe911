"""A convolutionalized classifier: the trunk and its last fully connected layer as a 1x1 conv.

On its own input size (224 for VGG16 and GoogLeNet, 227 for CaffeNet) it is the classifier: one
cell of class scores. On a bigger image it gives a coarse map of scores, one cell per
``stride`` pixels (the paper's Fig. 2 heatmap). It keeps the classifier's own padding (VGG16
conv pad 1, no pad 100).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
from flax import linen as nn

from fcn_jax.geometry import Trace, Window
from fcn_jax.kernels.choice import checked
from fcn_jax.models.fcn import Runner
from fcn_jax.models.googlenet import Branches
from fcn_jax.models.layers import Conv


class Classifier(nn.Module):
    """``trunk()`` layers then ``last`` (``num_classes`` 1x1 filters: VGG16's and CaffeNet's
    ``fc8``, GoogLeNet's ``loss3_classifier``); returns (N, h, w, classes) scores. ``record``
    receives ``(name, layer, trace, shape)`` per layer, as in FCN; every convolution runs
    under the ``kernels`` policy."""

    num_classes: int
    trunk: Callable[[], Sequence[nn.Module]]
    last: str = "fc8"
    kernels: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record=None):
        checked(self.kernels)  # before a layer's error could name the image size
        if x.ndim != 4:
            raise ValueError(f"expected NHWC images, got an array of shape {x.shape}")
        run = Runner(train, record, self.kernels)
        h, trace = x, Trace.input(*x.shape[1:3])
        for layer in (*self.trunk(), Conv(self.num_classes, 1, name=self.last)):
            if isinstance(layer, Branches):
                h, trace = run.branches(layer, h, trace)
                continue
            if isinstance(layer.op, Window) and min(map(layer.op.out_size, h.shape[1:3])) < 1:
                raise ValueError(
                    f"input of {x.shape[1]}x{x.shape[2]} pixels is too small for this "
                    f"classifier: layer {layer.name} gets {h.shape[1]}x{h.shape[2]}"
                )
            h, trace = run(layer, h, trace)
        return h
