"""The peers our FCN is timed against, each built in a worker process of its own: the reference
net of ``tests/torch_fcn.py`` run by PyTorch eager (NCHW), by PyTorch eager in channels_last,
by ``torch.compile`` (inductor) and, for inference, by ONNX Runtime (the net exported with
``torch.onnx.export``, opset 17, run with 2 intra-op threads).

Every peer (and our worker) reads the same weights, ``reference_weights``' file, so that each
peer's logits can be checked against ours; a worker's ``infer`` returns the logits for that.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import numpy as np

from fcn_jax.kernels import allocator

ARCH, CLASSES = "fcn8s", 21
SGD = {"learning_rate": 1e-10, "momentum": 0.99, "weight_decay": 5e-4}  # the reference solver
TESTS = Path(__file__).resolve().parents[1] / "tests"  # tests/torch_fcn.py: PyTorch's side
# peer: (its name in the table, the tasks it runs)
PEERS = {
    "eager": ("PyTorch eager", ("infer", "train")),
    "channels_last": ("channels_last", ("infer", "train")),
    "compile": ("torch.compile", ("infer", "train")),
    "onnxruntime": ("ONNX Runtime", ("infer",)),
}
OPSET, ORT_THREADS = 17, 2


def inputs(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The image (NHWC) and labels every contender runs on."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((1, height, width, 3), np.float32)
    return image, rng.integers(0, CLASSES, (1, height, width)).astype(np.int32)


def torch_fcn():
    """``tests/torch_fcn.py``: the net the parity tests check ours against is the one PyTorch
    runs here (``tests/`` is not a package; its modules import each other by name, so the
    folder goes on ``sys.path`` in the process that builds the net)."""
    if str(TESTS) not in sys.path:
        sys.path.append(str(TESTS))
    import torch_fcn

    return torch_fcn


def reference_weights(path: str | Path) -> Path:
    """Write the full-width FCN-8s reference's weights (``reference_net``: every weight random
    and non-zero, so that a wrong layer shows in the logits) to ``path`` (.npz)."""
    net = torch_fcn().reference_net(ARCH, CLASSES, 1)
    np.savez(path, **{k: v.numpy() for k, v in net.state_dict().items()})
    return Path(path)


def torch_net(weights: str | Path | None):
    """The reference FCN-8s in PyTorch, with ``weights`` (None: PyTorch's own init, seed 0)."""
    import torch

    torch.manual_seed(0)
    net = torch_fcn().TorchVGGFCN(ARCH, CLASSES)
    if weights is not None:
        with np.load(weights) as saved:
            net.load_state_dict({k: torch.from_numpy(saved[k]) for k in saved.files})
    return net


def torch_peer(
    height: int,
    width: int,
    weights: str | Path | None = None,
    form: str = "eager",
    keep_freed_memory: bool = False,
) -> dict | None:
    """Inference and a training step in PyTorch (None without torch), on CUDA where torch sees
    a GPU: ``form`` 'eager' (NCHW), 'channels_last' (net and input in that memory format) or
    'compile' (``torch.compile``, inductor; it compiles on the first call). Bilinear
    deconvolutions frozen as ours, the reference SGD; glibc's default allocator settings, as
    PyTorch runs, unless ``keep_freed_memory``."""
    if keep_freed_memory:
        allocator.keep_freed_memory()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = torch_net(weights).to(device)
    for name, p in net.named_parameters():
        p.requires_grad_("upscore" not in name)  # frozen bilinear deconvolutions, as ours
    trained = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trained, lr=SGD["learning_rate"], momentum=SGD["momentum"],
                          weight_decay=SGD["weight_decay"])  # fmt: skip
    image, label = inputs(height, width)
    x = torch.from_numpy(image.transpose(0, 3, 1, 2).copy()).to(device)
    y = torch.from_numpy(label.astype(np.int64)).to(device)
    if form == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    run = torch.compile(net) if form == "compile" else net
    wait = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def infer():
        net.eval()
        with torch.no_grad():
            out = run(x)
        wait()
        return out

    def train():
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(run(x), y, ignore_index=255, reduction="sum")
        loss.backward()
        opt.step()
        wait()

    return {"infer": infer, "train": train}


def exported(net, x) -> bytes:
    """``net`` exported by ``torch.onnx.export`` at opset 17 for the shape of ``x`` (NCHW).
    TorchScript's exporter (``dynamo=False``): the dynamo one needs onnxscript, which the
    ``bench`` extra does not install; its deprecation warning is silenced."""
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (x,), buffer, opset_version=OPSET, dynamo=False,
                          input_names=["image"], output_names=["logits"])  # fmt: skip
    return buffer.getvalue()


def onnx_session(model: bytes, threads: int = ORT_THREADS):
    """An ONNX Runtime session of ``model`` on its CPU provider, ``threads`` intra-op threads,
    operators run one after another."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_peer(
    height: int,
    width: int,
    weights: str | Path | None = None,
    keep_freed_memory: bool = False,
    threads: int = ORT_THREADS,
) -> dict | None:
    """Inference in ONNX Runtime (None without onnxruntime). The export runs here, so this
    worker has loaded torch too (idle once the net is exported and dropped)."""
    if keep_freed_memory:
        allocator.keep_freed_memory()
    try:
        import onnxruntime  # noqa: F401
        import torch
    except ImportError:
        return None
    image = inputs(height, width)[0].transpose(0, 3, 1, 2).copy()
    session = onnx_session(exported(torch_net(weights), torch.from_numpy(image)), threads)
    feed = {"image": image}

    def infer():
        return session.run(None, feed)[0]

    return {"infer": infer}


def peer_worker(peer: str, height: int, width: int, weights, keep_freed_memory: bool = False):
    """The contenders of ``peer`` (a key of ``PEERS``): the factory a worker builds."""
    if peer == "onnxruntime":
        return onnx_peer(height, width, weights, keep_freed_memory)
    return torch_peer(height, width, weights, peer, keep_freed_memory)
