"""Late fusion (paper section 5, NYUDv2): one FCN per input stream, their scores summed."""

from __future__ import annotations

import jax
from flax import linen as nn

from fcn_jax.models.fcn import FCN


class LateFusion(nn.Module):
    """Streams ``names`` (e.g. ('color', 'hha')), each an FCN on ``channels`` consecutive input
    channels; the output is the sum of their logits. Params are one subtree per stream, each
    shaped like a single-stream net's, so trained single-stream nets initialise it."""

    stream: FCN
    names: tuple[str, ...]
    channels: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record=None) -> jax.Array:
        expected = self.channels * len(self.names)
        if x.shape[-1] != expected:
            raise ValueError(
                f"late fusion of {', '.join(self.names)} takes {expected} channels, "
                f"got {x.shape[-1]}"
            )
        total = 0
        for k, name in enumerate(self.names):
            part = x[..., k * self.channels : (k + 1) * self.channels]
            # record only the first stream: the geometry of both is the same
            stream = self.stream.clone(parent=self, name=name)
            total = total + stream(part, train, record if k == 0 else None)
        return total
