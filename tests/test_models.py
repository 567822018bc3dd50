"""The plain ReLU nets, Glorot initialization and losses of curvlab.models, and their options."""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch
from torch import nn

from curvlab.models.feedforward import cnn, glorot_, mlp
from curvlab.models.losses import half_mse
from curvlab.models.ntk_mlp import NonlinearityName, SmoothReLU
from curvlab.models.resnet import BNMode, ResNet
from curvlab.models.vgg import build_model
from curvlab.theory.jacot import NONLINEARITIES


def test_mlp_and_cnn_layers_and_glorot_bounds():
    net = cnn(2, 8, (3, 4), 2, 5)  # two stacks: 8 → 4 → 2, so 4 channels × 2 × 2 features
    assert net(torch.zeros(7, 2, 8, 8)).shape == (7, 5)
    assert net[-1].in_features == 4 * 2 * 2
    assert sum(isinstance(m, nn.Conv2d) for m in net) == 4
    model = mlp(12, (7, 5), 3)
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [7, 5, 3]
    glorot_(model, torch.Generator().manual_seed(0))
    for layer in (m for m in model if isinstance(m, nn.Linear)):
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert 0.8 * bound < float(layer.weight.detach().abs().max()) <= bound
        assert not layer.bias.any()


def test_half_mse_is_half_the_squared_error_summed_over_outputs_averaged_over_samples():
    gen = torch.Generator().manual_seed(1)
    out, target = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
    explicit = sum(0.5 * float(((out[i] - target[i]) ** 2).sum()) for i in range(6)) / 6
    assert float(half_mse(out, target)) == pytest.approx(explicit, rel=1e-6)


def test_option_types_are_the_sets_the_models_accept():
    assert set(get_args(NonlinearityName)) == set(NONLINEARITIES)
    for name in get_args(NonlinearityName):
        SmoothReLU(name)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        SmoothReLU("relu")
    for bn in get_args(BNMode):
        assert build_model("mlp-4", bn, 1, 2, classes=3)(torch.zeros(5, 1, 2, 2)).shape == (5, 3)
    with pytest.raises(ValueError, match="bn must be one of"):
        ResNet(8, 4, "group")
