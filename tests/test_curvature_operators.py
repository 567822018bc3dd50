"""Curvature operators against explicit matrices and closed forms (float64, 1e-10 relative)."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from curvlab.curvature import (
    CurvatureOperator,
    EmpiricalFisherOperator,
    GGNOperator,
    HessianOperator,
    NoiseCovarianceOperator,
    NonDeterministicError,
    ntk_gram,
)


@pytest.fixture(autouse=True, scope="module")
def _float64_default():
    """Explicit Hessians are compared at 1e-10: build everything in float64 in this module."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((out - target) ** 2).mean()


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4), nn.Softplus(), nn.Linear(4, 3)
    )


def cnn() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Conv2d(3, 2, 3, stride=2), nn.Flatten(), nn.Linear(8, 3)
    )


def data(model_kind: str, sizes=(7, 5, 3), classes: bool = False):
    """Uneven batches, so weighting by batch size (not count) is tested too."""
    gen = torch.Generator().manual_seed(2)
    shape = (5,) if model_kind == "mlp" else (1, 7, 7)
    batches = []
    for n in sizes:
        x = torch.randn(n, *shape, generator=gen)
        y = (
            torch.randint(0, 3, (n,), generator=gen)
            if classes
            else torch.randn(n, 3, generator=gen)
        )
        batches.append((x, y))
    return batches


def flat_loss(model: nn.Module, loss_fn, batches):
    """L(θ) as a function of the flat parameter vector (explicit route)."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    total = sum(x.shape[0] for x, _ in batches)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes, strict=True)}
        return sum(
            x.shape[0] / total * loss_fn(functional_call(model, params, (x,)), y)
            for x, y in batches
        )

    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return loss, theta


def per_sample_jacobians(model, loss_fn, batches):
    """Per-sample gradients g_μ as rows, by explicit autograd (one sample at a time)."""
    rows = []
    for x, y in batches:
        for i in range(x.shape[0]):
            model.zero_grad()
            loss_fn(model(x[i : i + 1]), y[i : i + 1]).backward()
            rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


CASES = [
    ("mlp", mse, False),
    ("mlp", nn.CrossEntropyLoss(), True),
    ("cnn", mse, False),
    ("cnn", nn.CrossEntropyLoss(), True),
]


@pytest.mark.parametrize(("kind", "loss_fn", "classes"), CASES)
@pytest.mark.parametrize("method", ["jvp", "double_backward"])
def test_hessian_equals_the_explicit_hessian(kind, loss_fn, classes, method):
    model = mlp() if kind == "mlp" else cnn()
    batches = data(kind, classes=classes)
    loss, theta = flat_loss(model, loss_fn, batches)
    explicit = torch.autograd.functional.hessian(loss, theta)
    H = HessianOperator(model, loss_fn, batches, method=method)
    assert rel_err(H.to_dense(), explicit) < 1e-10


@pytest.mark.parametrize(("kind", "loss_fn", "classes"), CASES)
def test_ggn_equals_jt_h_j(kind, loss_fn, classes):
    model = mlp() if kind == "mlp" else cnn()
    batches = data(kind, classes=classes)
    names = [n for n, _ in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    sizes = [p.numel() for p in model.parameters()]
    shapes = [p.shape for p in model.parameters()]
    total = sum(x.shape[0] for x, _ in batches)
    explicit = torch.zeros(theta.numel(), theta.numel())
    for x, y in batches:

        def outputs(t: torch.Tensor, x=x) -> torch.Tensor:
            params = {n: v.view(s) for n, v, s in zip(names, t.split(sizes), shapes, strict=True)}
            return functional_call(model, params, (x,)).reshape(-1)

        jac = torch.autograd.functional.jacobian(outputs, theta)  # (n·out, P)
        out0 = outputs(theta).detach()
        h_out = torch.autograd.functional.hessian(
            lambda o, x=x, y=y: loss_fn(o.view(x.shape[0], -1), y), out0
        )
        explicit += x.shape[0] / total * jac.T @ h_out @ jac
    G = GGNOperator(model, loss_fn, batches)
    assert rel_err(G.to_dense(), explicit) < 1e-10


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_empirical_fisher_and_noise_covariance_equal_their_formulas(kind):
    model = mlp() if kind == "mlp" else cnn()
    batches = data(kind)
    g = per_sample_jacobians(model, mse, batches)  # (N, P)
    n = g.shape[0]
    fisher = g.T @ g / n
    mean = g.mean(0)
    F = EmpiricalFisherOperator(model, mse, batches, sample_chunk=4)
    assert rel_err(F.to_dense(), fisher) < 1e-10
    assert F.trace() == pytest.approx(float(torch.trace(fisher)), rel=1e-12)
    S = NoiseCovarianceOperator(model, mse, batches, batch_size=4)
    sigma = (fisher - torch.outer(mean, mean)) / 4
    assert rel_err(S.to_dense(), sigma) < 1e-10
    assert S.noise_strength() == pytest.approx(
        float((g * g).sum(1).mean() - mean @ mean), rel=1e-10
    )
    assert S.trace() == pytest.approx(float(torch.trace(sigma)), rel=1e-10)


def test_linear_regression_closed_forms():
    """H = XᵀX/N for L = (1/2N)‖Xw − y‖²; noise covariance from g_μ = x_μ(x_μᵀw − y_μ)."""
    torch.manual_seed(3)
    x, y = torch.randn(40, 6), torch.randn(40, 1)
    model = nn.Linear(6, 1, bias=False)

    def half_mse(out, target):
        return 0.5 * ((out - target) ** 2).mean()

    batches = [(x[:25], y[:25]), (x[25:], y[25:])]
    H = HessianOperator(model, half_mse, batches)
    assert rel_err(H.to_dense(), x.T @ x / 40) < 1e-12
    w = model.weight.detach().reshape(-1)
    residual = x @ w - y[:, 0]
    g = x * residual[:, None]
    sigma = (g.T @ g / 40 - torch.outer(g.mean(0), g.mean(0))) / 8
    S = NoiseCovarianceOperator(model, half_mse, batches, batch_size=8)
    assert rel_err(S.to_dense(), sigma) < 1e-12


def test_float32_model_gives_float64_accumulated_products():
    model = mlp().float()
    batches = [(x.float(), y.float()) for x, y in data("mlp")]
    H32 = HessianOperator(model, mse, batches)
    H64 = HessianOperator(model, mse, batches, dtype=torch.float64)
    assert H32.compute_dtype == torch.float32 and H64.compute_dtype == torch.float64
    v = torch.randn(H32.dim)
    assert (H32 @ v).dtype == torch.float64
    assert rel_err(H32 @ v, H64 @ v) < 1e-4  # float32 products, same matrix
    assert next(model.parameters()).dtype == torch.float32  # the user's model is untouched


def test_batchnorm_modes_are_explicit_and_running_statistics_untouched():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 3))
    model.train()
    for _ in range(3):
        model(torch.randn(16, 5))  # give the running statistics non-trivial values
    before = {n: b.clone() for n, b in model.named_buffers()}
    batches = data("mlp")
    H_eval = HessianOperator(model, mse, batches, mode="eval")
    H_train = HessianOperator(model, mse, batches, mode="train")
    v = torch.randn(H_eval.dim)
    assert rel_err(H_eval @ v, H_train @ v) > 1e-3  # different networks, different Hessians
    for n, b in model.named_buffers():
        assert torch.equal(b, before[n]), n
    assert model.training  # mode restored
    model.eval()
    loss, theta = flat_loss(model, mse, batches)
    assert rel_err(H_eval.to_dense(), torch.autograd.functional.hessian(loss, theta)) < 1e-10


def test_nondeterministic_operator_is_refused():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    with pytest.raises(NonDeterministicError, match="dropout"):
        HessianOperator(model, mse, data("mlp"), mode="train")
    HessianOperator(model, mse, data("mlp"), mode="eval")  # dropout off: fine


def test_mse_loss_module_falls_back_to_reverse_over_reverse():
    model = mlp()
    batches = data("mlp")
    H = HessianOperator(model, nn.MSELoss(), batches)
    with pytest.warns(RuntimeWarning, match="reverse-over-reverse"):
        product = H @ torch.ones(H.dim)
    assert H.method_used == "double_backward"
    reference = HessianOperator(model, mse, batches) @ torch.ones(H.dim)
    assert rel_err(product, reference) < 1e-12


@pytest.mark.parametrize("budget", [2 << 30, 600])
def test_ntk_gram_equals_j_jt(budget):
    model = mlp()
    x = data("mlp")[0][0]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    names = [n for n, _ in model.named_parameters()]
    sizes = [p.numel() for p in model.parameters()]
    shapes = [p.shape for p in model.parameters()]

    def outputs(t: torch.Tensor) -> torch.Tensor:
        params = {n: v.view(s) for n, v, s in zip(names, t.split(sizes), shapes, strict=True)}
        return functional_call(model, params, (x,)).reshape(-1)

    jac = torch.autograd.functional.jacobian(outputs, theta)
    gram = ntk_gram(model, x, sample_chunk=3, max_jacobian_bytes=budget)
    assert rel_err(gram, jac @ jac.T) < 1e-12


# --------------------------------------------------------------------------- properties


@pytest.fixture(scope="module")
def operators(_float64_default):
    return HessianOperator(mlp(), mse, data("mlp")), GGNOperator(mlp(), mse, data("mlp"))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    a=st.floats(-3, 3, allow_nan=False),
    b=st.floats(-3, 3, allow_nan=False),
    k=st.integers(1, 5),
)
def test_operators_are_symmetric_linear_and_shape_preserving(operators, seed, a, b, k):
    gen = torch.Generator().manual_seed(seed)
    for op in operators:
        u, v = torch.randn(op.dim, generator=gen), torch.randn(op.dim, generator=gen)
        assert (op @ u).shape == (op.dim,)
        block = torch.randn(op.dim, k, generator=gen)
        assert (op @ block).shape == (op.dim, k)
        assert torch.allclose(op @ block, torch.stack([op @ c for c in block.T], 1), atol=1e-12)
        assert float(u @ (op @ v)) == pytest.approx(float(v @ (op @ u)), rel=1e-10, abs=1e-12)
        assert torch.allclose(op @ (a * u + b * v), a * (op @ u) + b * (op @ v), atol=1e-10)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_cached_and_looped_products_equal_the_plain_ones(kind):
    model = mlp() if kind == "mlp" else cnn()
    batches = data(kind)
    plain = HessianOperator(model, mse, batches, cache=False, vectorize=True)
    block = torch.randn(plain.dim, 3)
    for method in ("jvp", "double_backward"):
        for vectorize in (True, False):
            cached = HessianOperator(
                model, mse, batches, method=method, cache=True, vectorize=vectorize
            )
            assert rel_err(cached @ block, plain @ block) < 1e-12
            assert rel_err(cached @ block[:, 0], plain @ block[:, 0]) < 1e-12  # reused maps
            assert len(cached._maps) == len(batches)
    ggn = GGNOperator(model, mse, batches, cache=False)
    ggn_cached = GGNOperator(model, mse, batches, cache=True, vectorize=False)
    assert rel_err(ggn_cached @ block, ggn @ block) < 1e-12


def test_auto_settings_are_resolved_on_first_use():
    H = HessianOperator(mlp(), mse, data("mlp"), cache="auto", cache_budget=0.0)
    H @ torch.randn(H.dim)
    assert H.cache is False and not H._maps  # a zero budget refuses the cache
    assert H.vectorize == "auto"  # a single vector: vmap and the loop are not compared yet


@pytest.mark.parametrize("slow", [True, False])
def test_auto_vectorize_keeps_the_faster_way(slow, monkeypatch):
    """Whichever of vmap (True) and the loop (False) is slowed down on the first block of
    vectors is never used again, and the choice does not change the products."""
    H = HessianOperator(mlp(), mse, data("mlp"), cache=False)
    apply, used = H._apply, []

    def timed(fn, tangents, vectorized):
        used.append(vectorized)
        if vectorized is slow:
            time.sleep(0.05)
        return apply(fn, tangents, vectorized)

    monkeypatch.setattr(H, "_apply", timed)
    block = torch.randn(H.dim, 3)
    first = H @ block
    assert H.vectorize is (not slow)
    used.clear()
    # The first block's first batch mixed both ways (the calibration's own products are kept).
    assert rel_err(H @ block, first) < 1e-12
    assert set(used) == {not slow}
    fixed = HessianOperator(mlp(), mse, data("mlp"), cache=False, vectorize=not slow)
    assert rel_err(first, fixed @ block) < 1e-12


@pytest.mark.parametrize("k", [2, 11, 12, 40])
def test_auto_vectorize_costs_no_extra_products(k, monkeypatch):
    """Calibration keeps the products it times: a block of k ≥ 12 vectors over two batches goes
    through the model exactly 2k times (k < 12: 2k extra, once per operator)."""
    H = HessianOperator(mlp(), mse, data("mlp"), cache=False, max_vectors=32)
    apply, pushed = H._apply, []

    def counted(fn, tangents, vectorized):
        pushed.append(next(iter(tangents.values())).shape[0])
        return apply(fn, tangents, vectorized)

    monkeypatch.setattr(H, "_apply", counted)
    block = torch.randn(H.dim, k)
    product = H @ block
    batches, blocks = len(data("mlp")), -(-k // 32)
    assert sum(pushed) == (k * batches if k >= 12 else k * batches + 2 * k)
    assert blocks == 1 or H.vectorize in (True, False)
    plain = HessianOperator(mlp(), mse, data("mlp"), cache=False, vectorize=False)
    assert rel_err(product, plain @ block) < 1e-12


def test_trace_is_the_exact_trace():
    """The base class's trace (P unit-vector products, 64 at a time: P = 113 takes two blocks)
    against the explicit Hessian, and against the Fisher's own per-sample formula."""
    model, batches = cnn(), data("cnn")
    loss, theta = flat_loss(model, mse, batches)
    H = HessianOperator(model, mse, batches)
    assert H.dim == 113
    explicit = torch.autograd.functional.hessian(loss, theta)
    assert H.trace() == pytest.approx(float(torch.trace(explicit)), rel=1e-10)
    F = EmpiricalFisherOperator(model, mse, batches)
    assert CurvatureOperator.trace(F) == pytest.approx(F.trace(), rel=1e-10)
