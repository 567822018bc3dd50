"""Plain ReLU networks without normalization, and Glorot initialization: the fully connected and
convolutional nets of Mori et al. (2022), Figs. 1 and 2 (docs/papers/mori2022.md)."""

from __future__ import annotations

import torch
from torch import nn


def glorot_(model: nn.Module, generator: torch.Generator) -> None:
    """Glorot (Xavier) uniform weights, zero biases, for every Linear and Conv2d layer."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()


def mlp(in_features: int, hidden: tuple[int, ...], out_features: int) -> nn.Sequential:
    """Flatten → (Linear → ReLU) per hidden width → Linear (no output activation)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def cnn(
    in_channels: int, image_size: int, channels: tuple[int, ...], convs: int, out_features: int
) -> nn.Sequential:
    """Keskar et al.'s stacks as in Mori et al.'s Fig. 2: per stack ``convs`` × [c, 3, 3, 1]
    convolutions (padding 1) with ReLU, then MaxPool(2); a linear output layer of
    ``out_features`` units."""
    layers: list[nn.Module] = []
    width, size = in_channels, image_size
    for c in channels:
        for _ in range(convs):
            layers += [nn.Conv2d(width, c, 3, stride=1, padding=1), nn.ReLU()]
            width = c
        layers.append(nn.MaxPool2d(2))
        size //= 2
    layers += [nn.Flatten(), nn.Linear(width * size * size, out_features)]
    return nn.Sequential(*layers)
