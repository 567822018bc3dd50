"""CIFAR ResNet / VGG / MLP with BN modes none, batch, population (Ghorbani et al. 2019)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from curvlab.models.resnet import (
    ResNet,
    bn_layers,
    filter_normalize,
    he_init_,
    scale_invariant_layers,
    set_population_statistics,
)
from curvlab.models.vgg import build_model, check_arch

ARCHS = ["resnet8-w4", "vgg-4-M-8", "mlp-12-8"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(arch: str, bn: str, seed: int = 0) -> nn.Module:
    model = build_model(arch, bn, in_channels=2, image_size=8, classes=5).double()
    he_init_(model, torch.Generator().manual_seed(seed))
    return model


def _data(n: int = 24, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 2, 8, 8, generator=torch.Generator().manual_seed(seed)).double()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("bn", ["none", "batch", "population"])
def test_shapes_and_bn_layers(arch, bn):
    model = _model(arch, bn)
    assert model(_data()).shape == (24, 5)
    layers = bn_layers(model)
    feeding = scale_invariant_layers(model)
    if bn == "none":
        assert not layers and not feeding
        assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    else:
        assert len(layers) == len(feeding) > 0
        assert all(m.bias is None for m in feeding)  # BN's shift replaces the bias


def test_resnet32_size_and_depth_check():
    model = ResNet(32, 16, "batch")
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(464_154, rel=0.01)
    with pytest.raises(ValueError, match="6k"):
        ResNet(10, 16, "batch")
    with pytest.raises(ValueError, match="unknown architecture"):
        check_arch("inception-v3")


@pytest.mark.parametrize("arch", ARCHS)
def test_population_statistics_are_exact_whole_set_statistics(arch):
    """Each BN layer's stored statistics = mean and biased variance of its input over the whole
    set, where that input is computed with the earlier layers normalized by *their* population
    statistics (checked by an eval-mode forward pass that records the BN inputs)."""
    model = _model(arch, "population")
    x = _data(40)
    set_population_statistics(model, x)
    seen = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, i=i: seen.__setitem__(i, args[0]))
        for i, m in enumerate(bn_layers(model))
    ]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for i, m in enumerate(bn_layers(model)):
        inp = seen[i]
        dims = [0] if inp.dim() == 2 else [0, 2, 3]
        torch.testing.assert_close(m.running_mean, inp.mean(dims), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(
            m.running_var, inp.var(dims, unbiased=False), rtol=1e-10, atol=1e-12
        )
    assert model.training is False


def test_population_bn_output_does_not_depend_on_the_batch():
    """With population statistics (eval mode) a sample's output is independent of the other
    samples in its batch, unlike minibatch BN."""
    model = _model("vgg-4-M-8", "population")
    x = _data(30)
    set_population_statistics(model, x)
    model.eval()
    with torch.no_grad():
        full = model(x)
        part = model(x[:7])
    torch.testing.assert_close(part, full[:7], rtol=1e-12, atol=1e-12)
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x[:7]), model(x)[:7])


@pytest.mark.parametrize("arch", ARCHS)
def test_filter_normalization_keeps_the_function(arch):
    """Exact up to BN's ε (set to 1e-30 here; with ε = 1e-5 outputs move by ~1e-5 relative)."""
    model = _model(arch, "batch")
    for m in bn_layers(model):
        m.eps = 1e-30
    x = _data()
    model.train()
    with torch.no_grad():
        before = model(x)
        filter_normalize(model)
        after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-9, atol=1e-9)
    for layer in scale_invariant_layers(model):
        norms = layer.weight.reshape(layer.weight.shape[0], -1).norm(dim=1)
        torch.testing.assert_close(norms, torch.ones_like(norms))
    # frozen (population) statistics recomputed after normalization: same function too
    pop = _model(arch, "population")
    for m in bn_layers(pop):
        m.eps = 1e-30
    set_population_statistics(pop, x)
    pop.eval()
    with torch.no_grad():
        before = pop(x)
        filter_normalize(pop)
        set_population_statistics(pop, x)
        torch.testing.assert_close(pop(x), before, rtol=1e-9, atol=1e-9)
