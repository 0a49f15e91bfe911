"""torchvision's ``fcn_resnet50/101`` written directly in PyTorch (torchvision does not install
beside the CPU torch build), with torchvision's module names so its state dict keys are the
real ones: ``backbone.layer3.0.conv2.weight``, ``classifier.4.bias``, ``aux_classifier.0...``.
Dilated ResNet: layer3 and layer4 replace their stride by dilation 2 and 4 (the first block of
each keeps the previous dilation), as ``replace_stride_with_dilation=[False, True, True]``."""

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def c(n, width):
    return max(1, round(n * width))


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride, dilation, project):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = (
            nn.Conv2d(planes, 4 * planes, 1, bias=False),
            nn.BatchNorm2d(4 * planes),
        )
        self.downsample = None
        if project:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, 4 * planes, 1, stride, bias=False), nn.BatchNorm2d(4 * planes)
            )

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class Backbone(nn.Module):
    def __init__(self, depth, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c(64, width), 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c(64, width))
        cin, dilation = c(64, width), 1
        for stage, (count, base) in enumerate(zip(DEPTHS[depth], (64, 128, 256, 512), strict=True)):
            stride, previous = (1 if stage == 0 else 2), dilation
            if stage >= 2:
                dilation, stride = dilation * 2, 1
            planes, blocks = c(base, width), []
            for i in range(count):
                blocks.append(Bottleneck(cin, planes, stride if i == 0 else 1,
                                         previous if i == 0 else dilation, i == 0))  # fmt: skip
                cin = 4 * planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        h = self.layer2(self.layer1(h))
        aux = self.layer3(h)
        return self.layer4(aux), aux


def fcn_head(cin, classes):
    return nn.Sequential(
        nn.Conv2d(cin, cin // 4, 3, padding=1, bias=False), nn.BatchNorm2d(cin // 4), nn.ReLU(),
        nn.Dropout(0.1), nn.Conv2d(cin // 4, classes, 1),
    )  # fmt: skip


class FCNResNet(nn.Module):
    def __init__(self, depth, classes, width, aux=True):
        super().__init__()
        self.backbone = Backbone(depth, width)
        top = 4 * c(512, width)
        self.classifier = fcn_head(top, classes)
        self.aux_classifier = fcn_head(top // 2, classes) if aux else None

    def forward(self, x):
        size = x.shape[-2:]
        out, aux = self.backbone(x)

        def up(h):
            return F.interpolate(h, size=size, mode="bilinear", align_corners=False)

        result = {"out": up(self.classifier(out))}
        if self.aux_classifier is not None:
            result["aux"] = up(self.aux_classifier(aux))
        return result


def random_fcn_resnet(depth, classes, width, seed=0, aux=True) -> FCNResNet:
    """Every weight random, batch-norm statistics random too (as after training)."""
    net = FCNResNet(depth, classes, width, aux)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / p[0].numel()) ** 0.5)
            else:
                p.copy_(
                    torch.rand(p.shape, generator=gen) + (0.5 if name.endswith("weight") else -0.5)
                )
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
    return net.eval()
