"""FCN-GoogLeNet written directly in PyTorch, for the parity test: bvlc_googlenet's layers
(Caffe ceil-mode pools, LRN), no average pooling, score_fr on inception_5b, odd-kernel
deconvolutions. The crop offsets are derived by hand: conv1 (7x7/2, pad 3) centres unit 0 on
pixel 0, each unpadded 3x3/2 pool moves unit 0 by one unit of its input (+2, +4, +8, +16 pixels:
shift 30 at stride 32, 14 at stride 16, 6 at stride 8); a (2s-1)-kernel deconvolution by s moves
it back by s - 1 output units, so the 3x3 ones land on the skip's grid (offset 0) and the final
one at pixel -1: crop 1."""

import torch
import torch.nn.functional as F
from torch import nn

INCEPTIONS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}  # fmt: skip


def c(n, width):
    return max(1, round(n * width))


class Inception(nn.Module):
    def __init__(self, cin, sizes, width):
        super().__init__()
        c1, r3, c3, r5, c5, pp = (c(n, width) for n in sizes)
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.r3, self.b3 = nn.Conv2d(cin, r3, 1), nn.Conv2d(r3, c3, 3, padding=1)
        self.r5, self.b5 = nn.Conv2d(cin, r5, 1), nn.Conv2d(r5, c5, 5, padding=2)
        self.pp = nn.Conv2d(cin, pp, 1)
        self.out = c1 + c3 + c5 + pp

    def forward(self, x):
        return torch.cat([
            F.relu(self.b1(x)),
            F.relu(self.b3(F.relu(self.r3(x)))),
            F.relu(self.b5(F.relu(self.r5(x)))),
            F.relu(self.pp(F.max_pool2d(x, 3, 1, 1))),
        ], 1)  # fmt: skip


def pool(x):
    return F.max_pool2d(x, 3, 2, ceil_mode=True)


def crop_to(a, b, offset=0):
    h, w = min(a.shape[2], b.shape[2] + offset), min(a.shape[3], b.shape[3] + offset)
    return a[:, :, offset:h, offset:w]


class TorchGoogLeNetFCN(nn.Module):
    def __init__(self, stride: int, num_classes: int, width: float):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(3, c(64, width), 7, 2, 3)
        self.conv2r = nn.Conv2d(c(64, width), c(64, width), 1)
        self.conv2 = nn.Conv2d(c(64, width), c(192, width), 3, padding=1)
        self.norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        cin, blocks = c(192, width), {}
        for name, sizes in INCEPTIONS.items():
            blocks[name] = Inception(cin, sizes, width)
            cin = blocks[name].out
        self.blocks = nn.ModuleDict(blocks)
        self.score_fr = nn.Conv2d(cin, num_classes, 1)
        k = num_classes
        self.upscore = nn.ConvTranspose2d(k, k, 2 * stride - 1, stride, bias=False)
        if stride <= 16:
            self.score_4e = nn.Conv2d(self.blocks["4e"].out, k, 1)
            self.upscore2 = nn.ConvTranspose2d(k, k, 3, 2, bias=False)
        if stride == 8:
            self.score_3b = nn.Conv2d(self.blocks["3b"].out, k, 1)
            self.upscore_pool4 = nn.ConvTranspose2d(k, k, 3, 2, bias=False)

    def forward(self, x):
        h = self.norm(pool(F.relu(self.conv1(x))))
        h = pool(self.norm(F.relu(self.conv2(F.relu(self.conv2r(h))))))
        taps = {}
        for name, block in self.blocks.items():
            h = taps[name] = block(h)
            if name in ("3b", "4e"):
                h = pool(h)
        h = self.score_fr(h)
        for tap, up, score in [("4e", "upscore2", "score_4e"), ("3b", "upscore_pool4", "score_3b")]:
            if hasattr(self, up):
                u, s = getattr(self, up)(h), getattr(self, score)(taps[tap])
                h = crop_to(u, s) + crop_to(s, u)
        return crop_to(self.upscore(h), x, 1)[:, :, : x.shape[2], : x.shape[3]]


def caffe_names(net: TorchGoogLeNetFCN) -> dict:
    """The state dict under bvlc_googlenet's Caffe layer names ('/' kept, as Caffe writes)."""
    rename = {"conv1": "conv1/7x7_s2", "conv2r": "conv2/3x3_reduce", "conv2": "conv2/3x3",
              "score_4e": "score_inception_4e_output", "score_3b": "score_inception_3b_output",
              "upscore": {32: "upscore", 16: "upscore16", 8: "upscore8"}[net.stride]}  # fmt: skip
    branch = {"b1": "1x1", "r3": "3x3_reduce", "b3": "3x3", "r5": "5x5_reduce", "b5": "5x5",
              "pp": "pool_proj"}  # fmt: skip
    state = {}
    for key, value in net.state_dict().items():
        parts = key.split(".")
        if parts[0] == "blocks":
            layer = f"inception_{parts[1]}/{branch[parts[2]]}"
        else:
            layer = rename.get(parts[0], parts[0])
        state[f"{layer}.{parts[-1]}"] = value.numpy()
    return state
