"""torchvision's VGG16 module layout (``features.N``, ``avgpool``, ``classifier.N``), written here
because torchvision itself does not install beside the CPU torch build; at a channel width."""

import torch
from torch import nn

CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(nn.Module):
    def __init__(self, width: float = 1.0, fc: int = 4096, num_classes: int = 1000):
        super().__init__()
        layers, cin = [], 3
        for item in CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                cout = max(1, round(item * width))
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(cin * 49, fc), nn.ReLU(True), nn.Dropout(),
            nn.Linear(fc, fc), nn.ReLU(True), nn.Dropout(),
            nn.Linear(fc, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def random_vgg16(width: float, fc: int, num_classes: int, seed: int = 0) -> VGG16:
    net = VGG16(width, fc, num_classes)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return net.eval()
