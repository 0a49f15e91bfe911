"""The work each framework does in the comparison, as zero-argument callables: FCN-8s/VGG16 in
``caffe`` alignment (the reference net, full width), batch 1, inference and a training step
(forward, backward, the reference SGD update, bilinear deconvolutions frozen in both)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from benchmarks.peers import ARCH, CLASSES, SGD, inputs, torch_peer
from fcn_jax.kernels import allocator
from fcn_jax.models import build, layer_types
from fcn_jax.models.layers import Deconv
from fcn_jax.train.optim import make_optimizer
from fcn_jax.train.step import as_variables, init_state, make_train_step, variables_of
from fcn_jax.weights import from_torchfcn

__all__ = ["ARCH", "CLASSES", "inputs", "jax_contenders", "jax_parts", "torch_contenders"]


def jax_model(arch: str = ARCH, channels: float = 1.0):
    """Our FCN (FCN-8s/VGG16 unless ``arch``), ``caffe`` alignment where it applies, every
    channel count scaled by ``channels`` (parameters are made by ``init``)."""
    return build(arch, CLASSES, width=channels)


def jax_parts(
    height: int,
    width: int,
    dtype: str = "float32",
    remat: bool = False,
    arch: str = ARCH,
    channels: float = 1.0,
    weights: str | Path | None = None,
) -> dict:
    """'model', 'tx', 'state', 'batch', the jitted 'infer' (of params or variables) and
    'train_step' of our FCN (``jax_model``); params from ``weights`` (a torch reference's
    state dict as .npz, ``benchmarks.peers.reference_weights``) where given, else drawn."""
    model = jax_model(arch, channels)
    shape = (1, height, width, 3)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, np.float32))
    frozen = [n for n, kind in layer_types(model).items() if kind is Deconv]
    tx = make_optimizer(shapes["params"], name="sgd", frozen_layers=frozen, **SGD)
    image, label = inputs(height, width)
    state = init_state(model, tx, shape, seed=0)
    if weights is not None:
        with np.load(weights) as saved:
            params = jax.device_put(from_torchfcn({k: saved[k] for k in saved.files}, arch))
        state = state.replace(params=params, opt_state=tx.init(params))
    return {
        "model": model,
        "tx": tx,
        "state": state,
        "batch": {"image": image, "label": label},
        "infer": jax.jit(lambda variables, x: model.apply(as_variables(variables), x)),
        "train_step": make_train_step(model, tx, normalize="sum", dtype=dtype, remat=remat),
    }


def jax_contenders(height: int, width: int, keep_freed_memory: bool = False, **options) -> dict:
    """Our inference (it returns the logits) and training step (``options`` as ``jax_parts``);
    ``keep_freed_memory`` makes the process keep freed memory as ``fcn-jax train`` does with
    crops (``fcn_jax.kernels.allocator``; ``benchmarks.run --allocator`` says where)."""
    if keep_freed_memory:
        allocator.keep_freed_memory()
    parts = jax_parts(height, width, **options)
    box = {"state": parts["state"]}
    batch = jax.device_put(parts["batch"])

    def infer():
        return parts["infer"](variables_of(box["state"]), batch["image"]).block_until_ready()

    def train():
        box["state"], metrics = parts["train_step"](box["state"], batch)
        metrics["loss"].block_until_ready()

    return {"infer": infer, "train": train}


def torch_contenders(height: int, width: int, keep_freed_memory: bool = False) -> dict | None:
    """The same work in PyTorch eager (None without torch), PyTorch's own init
    (``benchmarks.peers.torch_peer``; ``benchmarks.memory`` runs it)."""
    return torch_peer(height, width, None, "eager", keep_freed_memory)
