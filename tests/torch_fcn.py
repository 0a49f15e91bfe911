"""The reference FCNs written directly in PyTorch, as the PyTorch ports write them: for the
parity tests, and the PyTorch side of ``benchmarks.run`` (``benchmarks/contenders.py`` imports
``TorchVGGFCN`` from here).

Written from the reference prototxts' geometry, with the crop offsets the reference nets use
typed in as the independent values our derived offsets must reproduce. Dropout after fc6 and
fc7 is active in training mode, as in the reference.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from reference_offsets import OFFSETS
from torch import nn

VGG_BLOCKS = (2, 2, 3, 3, 3)


def crop(x, offset, like):
    return x[:, :, offset : offset + like.shape[2], offset : offset + like.shape[3]]


class TorchVGGFCN(nn.Module):
    def __init__(self, arch: str, num_classes: int, channels=(64, 128, 256, 512, 512), fc=4096):
        super().__init__()
        self.arch = arch
        self.convs = []
        cin = 3
        for block, (n, cout) in enumerate(zip(VGG_BLOCKS, channels, strict=True), start=1):
            for i in range(1, n + 1):
                pad = 100 if block == i == 1 else 1
                self.add_module(f"conv{block}_{i}", nn.Conv2d(cin, cout, 3, padding=pad))
                self.convs.append(f"conv{block}_{i}")
                cin = cout
        self.fc6 = nn.Conv2d(cin, fc, 7)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.score_fr = nn.Conv2d(fc, num_classes, 1)
        up = {"fcn32s": ("upscore", 64, 32), "fcn16s": ("upscore16", 32, 16)}
        name, k, s = up.get(arch, ("upscore8", 16, 8))
        self.final = name
        setattr(self, name, nn.ConvTranspose2d(num_classes, num_classes, k, s, bias=False))
        if arch != "fcn32s":
            self.score_pool4 = nn.Conv2d(channels[3], num_classes, 1)
            self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, 2, bias=False)
        if arch in ("fcn8s", "fcn8s-atonce"):
            self.score_pool3 = nn.Conv2d(channels[2], num_classes, 1)
            self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, 2, bias=False)

    def forward(self, x):
        off = OFFSETS[self.arch]
        h, taps = x, {}
        for name in self.convs:
            h = F.relu(getattr(self, name)(h))
            if name.endswith(("1_2", "2_2", "3_3", "4_3", "5_3")):
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)
                taps[f"pool{name[4]}"] = h
        drop = partial(F.dropout, p=0.5, training=self.training)
        h = drop(F.relu(self.fc7(drop(F.relu(self.fc6(h))))))
        h = self.score_fr(h)
        scale = self.arch == "fcn8s-atonce"
        if self.arch != "fcn32s":
            up = self.upscore2(h)
            s = self.score_pool4(taps["pool4"] * 0.01 if scale else taps["pool4"])
            h = up + crop(s, off["score_pool4c"], up)
        if self.arch in ("fcn8s", "fcn8s-atonce"):
            up = self.upscore_pool4(h)
            s = self.score_pool3(taps["pool3"] * 0.0001 if scale else taps["pool3"])
            h = up + crop(s, off["score_pool3c"], up)
        return crop(getattr(self, self.final)(h), off["score"], x)


class TorchAlexFCN(nn.Module):
    def __init__(self, num_classes: int, channels=(96, 256, 384, 384, 256), fc=4096):
        super().__init__()
        c1, c2, c3, c4, c5 = channels
        self.conv1 = nn.Conv2d(3, c1, 11, stride=4, padding=100)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv4 = nn.Conv2d(c3, c4, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(c4, c5, 3, padding=1, groups=2)
        self.fc6 = nn.Conv2d(c5, fc, 6)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.score_fr = nn.Conv2d(fc, num_classes, 1)
        self.upscore = nn.ConvTranspose2d(num_classes, num_classes, 63, 32, bias=False)
        self.norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def forward(self, x):
        def pool(h):
            return F.max_pool2d(h, 3, 2, ceil_mode=True)

        h = self.norm(pool(F.relu(self.conv1(x))))
        h = self.norm(pool(F.relu(self.conv2(h))))
        h = F.relu(self.conv5(F.relu(self.conv4(F.relu(self.conv3(h))))))
        h = F.relu(self.fc7(F.relu(self.fc6(pool(h)))))
        h = self.upscore(self.score_fr(h))
        return crop(h, OFFSETS["fcn-alexnet"]["score"], x)


def reference_net(arch: str, num_classes: int, width: float) -> nn.Module:
    """The torch reference at a channel width (1 or 1/16), every weight random and non-zero."""
    if arch == "fcn-alexnet":
        channels = (96, 256, 384, 384, 256) if width == 1 else (6, 16, 24, 24, 16)
        net = TorchAlexFCN(num_classes, channels, 4096 if width == 1 else 256)
    else:
        channels = (64, 128, 256, 512, 512) if width == 1 else (4, 8, 16, 32, 32)
        net = TorchVGGFCN(arch, num_classes, channels, 4096 if width == 1 else 256)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            fan_in = p[0].numel() if "upscore" not in name else p.shape[0] * 4
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / max(fan_in, 1)) ** 0.5)
    return net.eval()
