"""CIFAR-style ResNet-n (He et al. 2016, §4.2) with three BatchNorm modes, and the BN helpers
shared with :mod:`curvlab.models.vgg` (Ghorbani, Krishnan & Xiao 2019; docs/papers/ghorbani2019.md).

ResNet-n, n = 6k + 2: a 3 × 3 stem of ``width`` channels, three stages of k basic blocks
(conv3×3–BN–ReLU–conv3×3–BN, + shortcut, ReLU) with ``width``, 2·``width``, 4·``width``
channels, the last two starting with stride 2; option-A shortcuts (stride-2 subsampling and
zero-padded channels, parameter-free, as in the paper's CIFAR nets); global average pooling
and a linear classifier. ResNet-32 is k = 5, width 16 (0.46 M parameters).

BatchNorm modes (``bn``):

* ``none`` — no normalization; convolutions get a bias (zero at initialization).
* ``batch`` — standard BatchNorm: minibatch statistics in training.
* ``population`` — normalization by statistics of the whole training set at the current θ
  (docs/papers/ghorbani2019.md, Reconstructed choices 3): :func:`set_population_statistics`
  recomputes them with one full-batch pass and stores them as the BN layers' running
  statistics; training and evaluation both run the BN layers in eval mode, so the statistics
  are constants (no gradient flows through them). The training loop recomputes them before every step.

With BN, every convolution or linear layer feeding a BN layer has no bias (BN's shift replaces
it) and its output is invariant to the scale of each filter — :func:`filter_normalize` rescales
those filters to unit norm before a Hessian is computed (the ``normalize_model`` option of
Ghorbani et al.'s code).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

#: BatchNorm modes (module docstring).
BNMode = Literal["none", "batch", "population"]
BN_MODES: tuple[BNMode, ...] = get_args(BNMode)


def check_bn(bn: BNMode) -> None:
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")


def norm2d(channels: int, bn: BNMode) -> nn.Module:
    return nn.Identity() if bn == "none" else nn.BatchNorm2d(channels)


def norm1d(features: int, bn: BNMode) -> nn.Module:
    return nn.Identity() if bn == "none" else nn.BatchNorm1d(features)


def he_init_(model: nn.Module, generator: torch.Generator) -> None:
    """He-normal (fan-in, ReLU gain) weights for every convolution and hidden linear layer,
    LeCun-normal for the last linear layer (the logits), zero biases, BN γ = 1 and β = 0."""
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            fan_in = layer.weight[0].numel()
            gain = 1.0 if i == len(layers) - 1 else math.sqrt(2.0)
            layer.weight.copy_(
                torch.randn(layer.weight.shape, generator=generator) * gain / math.sqrt(fan_in)
            )
            if layer.bias is not None:
                layer.bias.zero_()
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.reset_parameters()
                m.reset_running_stats()


def bn_layers(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


def scale_invariant_layers(model: nn.Module) -> list[nn.Module]:
    """The convolution / linear layers whose output feeds a BN layer directly (module order:
    each BN follows the layer it normalizes), i.e. whose filters' scale does not matter."""
    pairs, last = [], None
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            last = m
        elif isinstance(m, _BatchNorm):
            if last is None or last.weight.shape[0] != m.num_features:
                raise ValueError("a BN layer does not follow the layer it normalizes")
            pairs.append(last)
            last = None
    return pairs


@torch.no_grad()
def filter_normalize(model: nn.Module) -> None:
    """Rescale every filter (output unit) of the BN-fed layers to unit Euclidean norm."""
    for layer in scale_invariant_layers(model):
        w = layer.weight
        norms = w.reshape(w.shape[0], -1).norm(dim=1).clamp_min(1e-30)
        w.div_(norms.reshape(-1, *([1] * (w.dim() - 1))))


@torch.no_grad()
def set_population_statistics(model: nn.Module, inputs: Tensor) -> None:
    """Set every BN layer's running mean and (biased) variance to the statistics of
    ``inputs`` — the whole training set — propagated through the network at the current θ
    (layer l's statistics see layers < l normalized by theirs): one full-batch forward pass in
    train mode with momentum 1, exact, with the unbiased variance that BN stores corrected
    back to the biased one used for normalization."""
    layers = bn_layers(model)
    if not layers:
        return
    counts: dict[int, int] = {}

    def record(module: nn.Module, args: tuple) -> None:
        x = args[0]
        counts[id(module)] = x.numel() // x.shape[1]

    hooks = [m.register_forward_pre_hook(record) for m in layers]
    saved = [(m.momentum, m.track_running_stats) for m in layers]
    was_training = model.training
    try:
        model.train()
        for m in layers:
            m.momentum = 1.0
            m.track_running_stats = True
        model(inputs)
    finally:
        for h in hooks:
            h.remove()
        for m, (momentum, tracking) in zip(layers, saved, strict=True):
            m.momentum = momentum
            m.track_running_stats = tracking
        model.train(was_training)
    for m in layers:
        n = counts[id(m)]
        if n > 1:
            m.running_var.mul_((n - 1) / n)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, bn: BNMode) -> None:
        super().__init__()
        bias = bn == "none"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
        self.bn1 = norm2d(cout, bn)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=bias)
        self.bn2 = norm2d(cout, bn)
        self.stride = stride
        self.pad = cout - cin

    def shortcut(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet of depth 6k + 2 (module docstring)."""

    def __init__(
        self,
        depth: int = 32,
        width: int = 16,
        bn: BNMode = "batch",
        in_channels: int = 3,
        classes: int = 10,
    ) -> None:
        super().__init__()
        check_bn(bn)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6k + 2 ≥ 8, got {depth}")
        blocks = (depth - 2) // 6
        self.bn = bn
        self.conv = nn.Conv2d(in_channels, width, 3, 1, 1, bias=bn == "none")
        self.norm = norm2d(width, bn)
        layers: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(cin, cout, stride, bn))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm(self.conv(x)))
        out = self.layers(out)
        return self.fc(out.mean(dim=(2, 3)))
