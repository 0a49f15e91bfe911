"""The work each framework does in the comparison, as zero-argument callables: FCN-8s/VGG16 in
``caffe`` alignment (the reference net, full width), batch 1, inference and a training step
(forward, backward, the reference SGD update, bilinear deconvolutions frozen in both)."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

from fcn_jax.kernels import allocator
from fcn_jax.models import build, layer_types
from fcn_jax.models.layers import Deconv
from fcn_jax.train.optim import make_optimizer
from fcn_jax.train.step import as_variables, init_state, make_train_step, variables_of

ARCH, CLASSES = "fcn8s", 21
SGD = {"learning_rate": 1e-10, "momentum": 0.99, "weight_decay": 5e-4}  # the reference solver
TESTS = Path(__file__).resolve().parents[1] / "tests"  # tests/torch_fcn.py: PyTorch's side


def inputs(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((1, height, width, 3), np.float32)
    return image, rng.integers(0, CLASSES, (1, height, width)).astype(np.int32)


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
) -> dict:
    """'model', 'tx', 'state', 'batch', the jitted 'infer' (of params or variables) and
    'train_step' of our FCN (``jax_model``)."""
    model = jax_model(arch, channels)
    shape = (1, height, width, 3)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, np.float32))
    frozen = [n for n, kind in layer_types(model).items() if kind is Deconv]
    tx = make_optimizer(shapes["params"], name="sgd", frozen_layers=frozen, **SGD)
    image, label = inputs(height, width)
    return {
        "model": model,
        "tx": tx,
        "state": init_state(model, tx, shape, seed=0),
        "batch": {"image": image, "label": label},
        "infer": jax.jit(lambda variables, x: model.apply(as_variables(variables), x)),
        "train_step": make_train_step(model, tx, normalize="sum", dtype=dtype, remat=remat),
    }


def jax_contenders(height: int, width: int, keep_freed_memory: bool = False, **options) -> dict:
    """Our inference and training step (``options`` as ``jax_parts``); ``keep_freed_memory``
    makes the process keep freed memory as ``fcn-jax train`` does with crops
    (``fcn_jax.kernels.allocator``; ``benchmarks.run`` asks for it by default)."""
    if keep_freed_memory:
        allocator.keep_freed_memory()
    parts = jax_parts(height, width, **options)
    box = {"state": parts["state"]}
    batch = jax.device_put(parts["batch"])

    def infer():
        parts["infer"](variables_of(box["state"]), batch["image"]).block_until_ready()

    def train():
        box["state"], metrics = parts["train_step"](box["state"], batch)
        metrics["loss"].block_until_ready()

    return {"infer": infer, "train": train}


def torch_reference():
    """``TorchVGGFCN`` of ``tests/torch_fcn.py``: the net the parity tests check ours against
    is the one PyTorch runs here (``tests/`` is not a package; its modules import each other
    by name, so the folder goes on ``sys.path`` in the process that builds the net)."""
    if str(TESTS) not in sys.path:
        sys.path.append(str(TESTS))
    from torch_fcn import TorchVGGFCN

    return TorchVGGFCN


def torch_contenders(height: int, width: int, keep_freed_memory: bool = False) -> dict | None:
    """The same work in PyTorch eager (None without torch), on CUDA where torch sees a GPU;
    with glibc's default allocator settings, as PyTorch runs, unless ``keep_freed_memory``."""
    if keep_freed_memory:
        allocator.keep_freed_memory()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    TorchVGGFCN = torch_reference()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = TorchVGGFCN(ARCH, CLASSES).to(device)
    for name, p in net.named_parameters():
        p.requires_grad_("upscore" not in name)  # frozen bilinear deconvolutions, as ours
    trained = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trained, lr=SGD["learning_rate"], momentum=SGD["momentum"],
                          weight_decay=SGD["weight_decay"])  # fmt: skip
    image, label = inputs(height, width)
    x = torch.from_numpy(image.transpose(0, 3, 1, 2).copy()).to(device)
    y = torch.from_numpy(label.astype(np.int64)).to(device)
    wait = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def infer():
        net.eval()
        with torch.no_grad():
            net(x)
        wait()

    def train():
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y, ignore_index=255, reduction="sum")
        loss.backward()
        opt.step()
        wait()

    return {"infer": infer, "train": train}
