"""curvlinops (an independent library) as oracle for the operators, on an MLP and a small CNN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

curvlinops = pytest.importorskip("curvlinops", reason="curvlinops-for-pytorch not installed")

from curvlab.curvature import EmpiricalFisherOperator, GGNOperator, HessianOperator  # noqa: E402


def models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    return {
        "mlp": (nn.Sequential(nn.Linear(8, 10), nn.Tanh(), nn.Linear(10, 4)).double(), (8,)),
        "cnn": (
            nn.Sequential(
                nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 4)
            ).double(),
            (1, 8, 8),
        ),
    }


def batches(shape, classes: bool):
    gen = torch.Generator().manual_seed(1)
    out = []
    for n in (9, 6):  # uneven: weighting by batch size
        x = torch.randn(n, *shape, generator=gen, dtype=torch.float64)
        y = (
            torch.randint(0, 4, (n,), generator=gen)
            if classes
            else torch.randn(n, 4, generator=gen, dtype=torch.float64)
        )
        out.append((x, y))
    return out


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_products_equal_curvlinops(kind, loss):
    model, shape = models()[kind]
    loss_fn = nn.MSELoss() if loss == "mse" else nn.CrossEntropyLoss()
    data = batches(shape, classes=loss == "cross_entropy")
    params = list(model.parameters())
    V = torch.randn(
        sum(p.numel() for p in params),
        5,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(2),
    )
    pairs = [
        (curvlinops.HessianLinearOperator, HessianOperator, 1.0),
        (curvlinops.GGNLinearOperator, GGNOperator, 1.0),
        # curvlinops scales the empirical Fisher of a mean-reduced MSE by the output dimension C
        # (its per-sample loss is the sum over outputs); ours uses ℓ_μ with L = (1/N) Σ ℓ_μ.
        (curvlinops.EFLinearOperator, EmpiricalFisherOperator, 4.0 if loss == "mse" else 1.0),
    ]
    for theirs_cls, ours_cls, factor in pairs:
        theirs = theirs_cls(model, loss_fn, params, data) @ V
        ours = ours_cls(model, loss_fn, data) @ V
        err = float((theirs - factor * ours).norm() / theirs.norm())
        assert err < 1e-10, (theirs_cls.__name__, err)
