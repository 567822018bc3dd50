"""VGG-style plain convolutional nets and MLPs with the BatchNorm modes of
:mod:`curvlab.models.resnet` (Ghorbani, Krishnan & Xiao 2019; docs/papers/ghorbani2019.md),
and the architecture strings the workflow puts in result paths.

VGG (Simonyan & Zisserman 2014, CIFAR variant): a sequence of conv3×3–BN–ReLU layers with
2 × 2 max-pooling where the layer list says ``M``, then global average pooling and one linear
classifier. MLP: linear–BN–ReLU layers and a linear classifier (the MLPs of
docs/papers/ghorbani2019.md).

Architecture strings (:func:`build_model`): ``resnet<depth>-w<width>`` (e.g. ``resnet32-w16``),
``vgg-<c>-<c>-M-...`` (e.g. ``vgg-16-M-32-M-64-M``), ``mlp-<h>-<h>`` (e.g. ``mlp-32-32``).
"""

from __future__ import annotations

import re
from typing import Literal

from torch import Tensor, nn

from curvlab.models.resnet import BNMode, ResNet, check_bn, norm1d, norm2d

#: Architecture families (module docstring), as :func:`check_arch` names them.
Family = Literal["resnet", "vgg", "mlp"]


class VGG(nn.Module):
    def __init__(
        self,
        layers: list[int | str],
        bn: BNMode = "batch",
        in_channels: int = 3,
        classes: int = 10,
    ) -> None:
        super().__init__()
        check_bn(bn)
        self.bn = bn
        modules: list[nn.Module] = []
        cin = in_channels
        for entry in layers:
            if entry == "M":
                modules.append(nn.MaxPool2d(2))
                continue
            cout = int(entry)
            modules += [
                nn.Conv2d(cin, cout, 3, 1, 1, bias=bn == "none"),
                norm2d(cout, bn),
                nn.ReLU(),
            ]
            cin = cout
        if cin == in_channels:
            raise ValueError("a VGG needs at least one convolution")
        self.features = nn.Sequential(*modules)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class MLP(nn.Module):
    def __init__(
        self, in_features: int, hidden: list[int], bn: BNMode = "batch", classes: int = 10
    ) -> None:
        super().__init__()
        check_bn(bn)
        self.bn = bn
        modules: list[nn.Module] = []
        cin = in_features
        for h in hidden:
            modules += [nn.Linear(cin, h, bias=bn == "none"), norm1d(h, bn), nn.ReLU()]
            cin = h
        self.features = nn.Sequential(*modules)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x.flatten(1)))


_RESNET = re.compile(r"^resnet(\d+)-w(\d+)$")
_VGG = re.compile(r"^vgg(-(\d+|M))+$")
_MLP = re.compile(r"^mlp(-\d+)+$")


def check_arch(arch: str) -> Family:
    """The family of an architecture string, or ValueError naming the accepted forms."""
    if _RESNET.match(arch):
        depth = int(_RESNET.match(arch).group(1))
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"{arch}: ResNet depth must be 6k + 2 ≥ 8")
        return "resnet"
    if _VGG.match(arch):
        return "vgg"
    if _MLP.match(arch):
        return "mlp"
    raise ValueError(
        f"unknown architecture {arch!r}; use resnet<6k+2>-w<width>, vgg-<c>-M-... or mlp-<h>-..."
    )


def build_model(
    arch: str, bn: BNMode, in_channels: int, image_size: int, classes: int = 10
) -> nn.Module:
    family = check_arch(arch)
    if family == "resnet":
        depth, width = map(int, _RESNET.match(arch).groups())
        return ResNet(depth, width, bn, in_channels, classes)
    parts = arch.split("-")[1:]
    if family == "vgg":
        return VGG([p if p == "M" else int(p) for p in parts], bn, in_channels, classes)
    return MLP(in_channels * image_size * image_size, [int(p) for p in parts], bn, classes)
