"""Curvature matrices of an empirical risk as linear operators on flat parameter vectors.

Notation. A model f(x; θ) with P trainable parameters θ, a loss ℓ(f(x), y) averaged over a batch
(``loss_fn(outputs, targets)``), and a dataset of fixed batches {(X_b, Y_b)} with N samples in
all. The empirical risk is

    L(θ) = Σ_b (n_b / N) · loss_fn(f(X_b; θ), Y_b),

so batches are weighted by their size, not counted (uneven last batches are exact). Operators:

* :class:`HessianOperator` — H = ∇²L(θ).
* :class:`GGNOperator` — the generalized Gauss–Newton G = Σ_b (n_b/N) J_bᵀ (∇²_f ℓ) J_b, with
  J_b = ∂f(X_b)/∂θ (for MSE this is the "I" of Jacot et al., the "Hessian+" of Huh).
* :class:`EmpiricalFisherOperator` — F = (1/N) Σ_μ ∇ℓ_μ ∇ℓ_μᵀ, the uncentred second moment of
  per-sample gradients.
* :class:`NoiseCovarianceOperator` — the covariance of a size-B SGD gradient under sampling
  with replacement, Σ = (1/B)[F − ∇L ∇Lᵀ]; ``B · trace`` is the noise strength 𝒩 of Mori et al.

Every operator applies to a vector (P,) or a batch of vectors (P, k) with ``@``; a batch is
pushed through the model together (``torch.func.vmap``), so one pass over the data serves all k
vectors. Products are computed in the operator's ``dtype`` (float32 or float64) and accumulated
over batches in float64. Hessian products use forward-over-reverse differentiation
(``jvp(grad(L))``) with a double-backward fallback (``method="double_backward"``) for operations
that lack forward-mode derivatives.

Which network a curvature matrix belongs to matters for BatchNorm: ``mode="eval"`` uses running
statistics (a fixed function of each input), ``mode="train"`` uses each batch's own statistics
without updating the running ones. Either way the operator must not change between products: a
determinism check (two passes over the data must give the same loss and gradient) runs before
the operator is used, as curvlinops does, and fails with a message naming the usual causes.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from curvlab.curvature.errors import CurvatureInputError, check_choice, check_counts
from curvlab.curvature.params import ParameterSpace

Batch = tuple[Any, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
#: BatchNorm/dropout mode of the network whose curvature is measured (module docstring).
Mode = Literal["eval", "train"]
#: ``cache`` and ``vectorize``: on, off, or decided on first use.
Switch = bool | Literal["auto"]
#: How Hessian products are differentiated (:class:`HessianOperator`).
HessianMethod = Literal["auto", "jvp", "double_backward"]

_BATCHNORM = (nn.modules.batchnorm._BatchNorm,)


class NonDeterministicError(RuntimeError):
    """Two passes over the data disagree, so Krylov methods would see a changing matrix."""


class CurvatureOperator:
    """A symmetric P × P linear operator acting on flat parameter vectors.

    Subclasses implement :meth:`matmat` on a (P, k) float64 matrix. ``op @ v`` accepts (P,) or
    (P, k) and returns float64 on the operator's device. ``compute_dtype`` is the precision the
    products are computed in, hence their rounding error, which Lanczos's estimate of lost
    orthogonality needs.
    """

    compute_dtype: torch.dtype = torch.float64

    @property
    def product_dtype(self) -> torch.dtype:
        """The precision whose rounding the products carry (Lanczos's orthogonality estimate)."""
        return self.compute_dtype

    def __init__(self, dim: int, device: torch.device | str = "cpu") -> None:
        self.dim = int(dim)
        self.device = torch.device(device)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.dim, self.dim)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    def matmat(self, vectors: Tensor) -> Tensor:
        raise NotImplementedError

    def matmat_rows(self, rows: Tensor) -> Tensor:
        """A applied to each row of ``rows`` (k, P), returned as rows: the layout Lanczos and
        the trace estimators keep their vectors in (one contiguous vector per row), so a
        product needs no transposes. Subclasses that compute in rows override it."""
        return self.matmat(rows.T).T

    def __matmul__(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x, device=self.device, dtype=torch.float64)
        if x.ndim == 1:
            return self.matmat(x[:, None])[:, 0]
        if x.ndim == 2:
            return self.matmat(x)
        raise ValueError(f"expected a vector (P,) or matrix (P, k), got shape {tuple(x.shape)}")

    def to_dense(self, chunk: int = 64) -> Tensor:
        """The explicit P × P matrix, one chunk of unit vectors at a time (small P only)."""
        eye = torch.eye(self.dim, dtype=torch.float64, device=self.device)
        return torch.cat([self.matmat(eye[:, i : i + chunk]) for i in range(0, self.dim, chunk)], 1)

    def trace(self) -> float:
        """Tr A, exactly: the diagonal of A read off its products with the P unit vectors, 64
        at a time (memory for 64 columns, not P).

        That is P products, so small P only; for large P, ``hutchinson_trace`` and
        ``hutchpp_trace`` estimate it as an :class:`~curvlab.curvature.Estimate`. Subclasses
        with a cheaper exact formula override it.
        """
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, self.dim, 64):
            rows = torch.arange(start, min(start + 64, self.dim), device=self.device)
            cols = torch.arange(len(rows), device=self.device)
            units = torch.zeros(self.dim, len(rows), dtype=torch.float64, device=self.device)
            units[rows, cols] = 1.0
            total += self.matmat(units)[rows, cols].sum()
        return float(total)


class DenseOperator(CurvatureOperator):
    """An explicit symmetric matrix as an operator (closed forms, tests, small problems)."""

    def __init__(self, matrix: Tensor) -> None:
        matrix = torch.as_tensor(matrix, dtype=torch.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"expected a square matrix, got shape {tuple(matrix.shape)}")
        super().__init__(matrix.shape[0], matrix.device)
        self.matrix = matrix

    def matmat(self, vectors: Tensor) -> Tensor:
        return self.matrix @ vectors

    def matmat_rows(self, rows: Tensor) -> Tensor:
        return rows @ self.matrix.T

    def trace(self) -> float:
        return float(torch.trace(self.matrix))


def _sample_count(inputs: Any) -> int:
    if isinstance(inputs, Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, (tuple, list)):
        return _sample_count(inputs[0])
    if isinstance(inputs, dict):
        return _sample_count(next(iter(inputs.values())))
    raise TypeError(f"cannot count samples of inputs of type {type(inputs).__name__}")


def _to(data: Any, device: torch.device, dtype: torch.dtype | None) -> Any:
    """Move (and cast floating tensors of) a nested batch structure."""
    if isinstance(data, Tensor):
        if dtype is not None and data.is_floating_point():
            return data.to(device=device, dtype=dtype)
        return data.to(device=device)
    if isinstance(data, (tuple, list)):
        return type(data)(_to(d, device, dtype) for d in data)
    if isinstance(data, dict):
        return {k: _to(v, device, dtype) for k, v in data.items()}
    return data


class EmpiricalRiskOperator(CurvatureOperator):
    """Common machinery: parameters, batches and their weights, mode, dtype, determinism.

    Args:
        model: the network; it is not modified (a float64 copy is made if ``dtype`` asks).
        loss_fn: ``loss_fn(outputs, targets)`` → the mean loss over the batch.
        batches: a sequence of ``(inputs, targets)``, iterated in order on every product.
        params: names of the parameters to differentiate (default: all trainable ones).
        mode: ``"eval"`` or ``"train"`` (BatchNorm batch statistics, running stats frozen).
        dtype: dtype in which products are computed (default: the model's); accumulation over
            batches is always float64.
        check_deterministic: run two passes and require the same loss and gradient.
        max_vectors: how many vectors are pushed through the model at once (memory bound).
        cache: keep, per batch, the map v ↦ A_b v with the forward (and backward) pass at θ
            already done (``torch.func.linearize``, or the retained graph of the gradient for
            reverse-over-reverse), so later products skip it — what makes Krylov runs fast.
            It holds every batch's activations: ``"auto"`` caches only if the first batch's
            memory times the number of batches fits in ``cache_budget`` of the free memory.
        vectorize: push a block of vectors through the model together (``vmap``) or one at a
            time; ``"auto"`` times both on the first block and keeps the faster (batched
            convolutions are often slower than a loop on CPU).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Sequence[Batch],
        *,
        params: Sequence[str] | None = None,
        mode: Mode = "eval",
        dtype: torch.dtype | None = None,
        check_deterministic: bool = True,
        max_vectors: int = 32,
        cache: Switch = "auto",
        cache_budget: float = 0.25,
        vectorize: Switch = "auto",
    ) -> None:
        check_choice("mode", mode, get_args(Mode))
        check_choice("cache", cache, (True, False, "auto"))
        check_choice("vectorize", vectorize, (True, False, "auto"))
        check_counts(max_vectors=max_vectors)
        # The space first: it names a model without parameters, where next() would raise a
        # bare StopIteration (casting the dtype keeps names and shapes).
        self.space = ParameterSpace.of(model, params)
        first = next(iter(model.parameters()))
        self.compute_dtype = dtype or first.dtype
        if self.compute_dtype != first.dtype:
            model = copy.deepcopy(model).to(self.compute_dtype)
        self.model = model
        self.loss_fn = loss_fn
        self.mode = mode
        super().__init__(self.space.dim, first.device)
        self.params = self.space.values(model)
        self.buffers = {n: b.detach() for n, b in model.named_buffers()}
        self.batches = [
            (_to(x, self.device, self.compute_dtype), _to(y, self.device, self.compute_dtype))
            for x, y in batches
        ]
        if not self.batches:
            raise CurvatureInputError(
                "no batches: the empirical risk needs at least one (inputs, targets)"
            )
        self.num_data = sum(_sample_count(x) for x, _ in self.batches)
        self.max_vectors = max_vectors
        self.cache = cache
        self.cache_budget = cache_budget
        self.vectorize = vectorize
        self._maps: dict[int, Callable[[dict], dict]] = {}
        if check_deterministic:
            self.check_deterministic()

    # ----------------------------------------------------------------------- model access

    @contextlib.contextmanager
    def _model_mode(self) -> Iterator[None]:
        """Put the model in the operator's mode; in train mode freeze BN running statistics."""
        was_training = self.model.training
        bns = [m for m in self.model.modules() if isinstance(m, _BATCHNORM)]
        tracking = [m.track_running_stats for m in bns]
        self.model.train(self.mode == "train")
        if self.mode == "train":
            for m in bns:
                m.track_running_stats = False  # batch statistics, no running-stat updates
        try:
            yield
        finally:
            for m, t in zip(bns, tracking, strict=True):
                m.track_running_stats = t
            self.model.train(was_training)

    def _forward(self, params: dict[str, Tensor], inputs: Any) -> Tensor:
        # Parameters not in ``params`` (frozen ones) keep the module's own values.
        return functional_call(self.model, (params, self.buffers), (inputs,))

    def _loss(self, params: dict[str, Tensor], inputs: Any, targets: Tensor) -> Tensor:
        return self.loss_fn(self._forward(params, inputs), targets)

    def _weights(self) -> Iterator[tuple[float, Any, Tensor]]:
        for inputs, targets in self.batches:
            yield _sample_count(inputs) / self.num_data, inputs, targets

    # ----------------------------------------------------------------------- first order

    def loss_and_gradient(self) -> tuple[float, Tensor]:
        """L(θ) and ∇L(θ) over all batches (float64 accumulation)."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        gradient = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        with self._model_mode():
            for weight, inputs, targets in self._weights():
                g, value = torch.func.grad_and_value(self._loss)(self.params, inputs, targets)
                total += weight * value.double()
                gradient += weight * self.space.flatten(g).double()
        return float(total), gradient

    def gradient(self) -> Tensor:
        return self.loss_and_gradient()[1]

    def check_deterministic(self) -> None:
        loss1, grad1 = self.loss_and_gradient()
        loss2, grad2 = self.loss_and_gradient()
        rtol = 1e-10 if self.compute_dtype == torch.float64 else 5e-5
        scale = float(grad1.norm())
        if (
            abs(loss1 - loss2) > rtol * abs(loss1) + 1e-12
            or float((grad1 - grad2).norm()) > rtol * scale + 1e-12
        ):
            raise NonDeterministicError(
                "two passes over the data gave different losses or gradients "
                f"(loss {loss1!r} vs {loss2!r}); Krylov methods need a fixed matrix. Usual "
                "causes: dropout or BatchNorm updating statistics (use mode='eval'), data "
                "augmentation or shuffling inside the batches, or non-deterministic GPU kernels."
            )

    # ----------------------------------------------------------------------- products

    def _batch_map(self, inputs: Any, targets: Tensor, cached: bool) -> Callable[[dict], dict]:
        """t ↦ A_b t for one tangent dict, for batch b. ``cached``: the map will be reused."""
        raise NotImplementedError

    def _apply(self, fn: Callable[[dict], dict], tangents: dict[str, Tensor], vectorized: bool):
        if vectorized:
            return vmap(fn)(tangents)
        k = next(iter(tangents.values())).shape[0]
        columns = [fn({n: t[i] for n, t in tangents.items()}) for i in range(k)]
        return {n: torch.stack([c[n] for c in columns]) for n in columns[0]}

    def _map_for(self, index: int, inputs: Any, targets: Tensor) -> Callable[[dict], dict]:
        if self.cache == "auto":
            self._decide_cache()
        if not self.cache:
            return self._batch_map(inputs, targets, cached=False)
        if index not in self._maps:
            self._maps[index] = self._batch_map(inputs, targets, cached=True)
        return self._maps[index]

    def _decide_cache(self) -> None:
        """Cache only if every batch's retained graph fits in ``cache_budget`` of free memory.

        The size is estimated from the tensors autograd saves for the gradient of the first
        batch (forward and differentiable backward), scaled to all samples.
        """
        inputs, targets = self.batches[0]
        saved = 0

        def pack(t: Tensor) -> Tensor:
            nonlocal saved
            saved += t.numel() * t.element_size()
            return t

        params = {n: p.detach().requires_grad_(True) for n, p in self.params.items()}
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = self._loss(params, inputs, targets)
            torch.autograd.grad(loss, list(params.values()), create_graph=True)
        estimate = saved * self.num_data / _sample_count(inputs)
        self.cache = estimate < self.cache_budget * _memory_available(self.device)

    def _calibrate(self, fn: Callable[[dict], dict], tangents: dict[str, Tensor]) -> dict:
        """Choose vmap or a loop over vectors by timing both on the first batch; return that
        batch's products of the whole block, so that the choice costs no extra products.

        The block's vectors are cut into an untimed vmap part (its first call sets vmap up, so it
        is not representative), a part timed with vmap and one timed with the loop (4 to 8
        vectors each), and the rest, done the chosen way. A block of fewer than 12 vectors is
        pushed through three times whole instead (at most 22 extra products, once per
        operator): fewer than 4 vectors a way would time noise, not batching.
        """
        import time

        k = next(iter(tangents.values())).shape[0]
        third = min(k // 3, 8) if k >= 12 else 0
        cuts = [0, third, 2 * third, 3 * third, k] if third else [0, k, k, k, k]
        part = [
            {n: t[cuts[i] : cuts[i + 1]] if third else t for n, t in tangents.items()}
            for i in range(4)
        ]
        results = [self._apply(fn, part[0], True)]
        timings = {}
        for vectorized, tangent in ((True, part[1]), (False, part[2])):
            if self.device.type == "cuda":  # queued work is not this way's time
                torch.cuda.synchronize(self.device)
            start = time.perf_counter()
            results.append(self._apply(fn, tangent, vectorized))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            timings[vectorized] = time.perf_counter() - start
        self.vectorize = timings[True] <= timings[False]
        if not third:
            return results[0]
        if k > 3 * third:
            results.append(self._apply(fn, part[3], self.vectorize))
        return {n: torch.cat([r[n] for r in results]) for n in results[0]}

    def matmat(self, vectors: Tensor) -> Tensor:
        if vectors.shape[0] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[0]} rows, the operator {self.dim}")
        return self.matmat_rows(vectors.T).T

    def matmat_rows(self, rows: Tensor) -> Tensor:
        if rows.shape[1] != self.dim:
            raise ValueError(f"rows have {rows.shape[1]} entries, the operator {self.dim}")
        out = torch.zeros(rows.shape, dtype=torch.float64, device=self.device)
        with self._model_mode():
            for start in range(0, rows.shape[0], self.max_vectors):
                block = rows[start : start + self.max_vectors].to(self.compute_dtype)
                tangents = self.space.unflatten_rows(block)
                calibrate = self.vectorize == "auto" and block.shape[0] > 1
                for index, (weight, inputs, targets) in enumerate(self._weights()):
                    fn = self._map_for(index, inputs, targets)
                    if calibrate and index == 0:
                        result = self._calibrate(fn, tangents)
                    else:
                        result = self._apply(fn, tangents, self.vectorize is not False)
                    # In place, promoting to float64: no temporary of the block's size.
                    out[start : start + len(block)].add_(
                        self.space.flatten_rows(result), alpha=weight
                    )
        return out


def _memory_available(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    import psutil

    return psutil.virtual_memory().available


class HessianOperator(EmpiricalRiskOperator):
    """H = ∇²L(θ).

    ``method``: ``"jvp"`` (forward-over-reverse), ``"double_backward"`` (reverse-over-reverse:
    the gradient's graph is kept and each product is one more backward pass, as PyHessian
    does) or ``"auto"`` (forward-over-reverse, switching to reverse-over-reverse for good if a
    product fails for lack of forward-mode support; ``method_used`` records the outcome).
    torch 2.13's ``F.mse_loss`` is such a case: its forward-over-reverse derivative raises
    "ZeroTensors are immutable"; a hand-written ``((out - y) ** 2).mean()`` keeps forward mode.
    The other arguments are :class:`EmpiricalRiskOperator`'s.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Sequence[Batch],
        *,
        params: Sequence[str] | None = None,
        mode: Mode = "eval",
        dtype: torch.dtype | None = None,
        check_deterministic: bool = True,
        max_vectors: int = 32,
        cache: Switch = "auto",
        cache_budget: float = 0.25,
        vectorize: Switch = "auto",
        method: HessianMethod = "auto",
    ) -> None:
        check_choice("method", method, get_args(HessianMethod))
        self.method = method
        self.method_used = "double_backward" if method == "double_backward" else "jvp"
        self._forward_mode_checked = False
        super().__init__(
            model,
            loss_fn,
            batches,
            params=params,
            mode=mode,
            dtype=dtype,
            check_deterministic=check_deterministic,
            max_vectors=max_vectors,
            cache=cache,
            cache_budget=cache_budget,
            vectorize=vectorize,
        )

    def _batch_map(self, inputs: Any, targets: Tensor, cached: bool) -> Callable[[dict], dict]:
        gradient = grad(lambda p: self._loss(p, inputs, targets))
        if self.method_used == "jvp" and not self._forward_mode_checked:
            self._check_forward_mode(gradient)
        if self.method_used == "jvp":
            if cached:
                with warnings.catch_warnings():
                    # torch.fx's constant folding warns about its own generated attributes.
                    warnings.simplefilter("ignore", UserWarning)
                    return torch.func.linearize(gradient, self.params)[1]
            return lambda t: jvp(gradient, (self.params,), (t,))[1]
        # Reverse-over-reverse: H is symmetric, so H t = (∂∇L/∂θ)ᵀ t is a vjp of the gradient.
        _, pullback = vjp(gradient, self.params)
        return lambda t: pullback(t)[0]

    def _check_forward_mode(self, gradient: Callable) -> None:
        """One plain jvp before anything is traced: a forward-mode gap raises here, cleanly.

        (Tracing an unsupported op with ``torch.func.linearize`` can crash the process instead
        of raising, as ``F.mse_loss`` does in torch 2.13.)
        """
        zero = self.space.unflatten(
            torch.zeros(self.dim, dtype=self.compute_dtype, device=self.device)
        )
        try:
            jvp(gradient, (self.params,), (zero,))
        except (RuntimeError, NotImplementedError) as err:
            forward_mode_gap = "ZeroTensors are immutable" in str(err) or "forward AD" in str(err)
            if self.method != "auto" or not forward_mode_gap:
                raise
            warnings.warn(
                f"forward-mode AD failed ({str(err).splitlines()[0][:80]}); using "
                "reverse-over-reverse Hessian products from now on",
                RuntimeWarning,
                stacklevel=5,
            )
            self.method_used = "double_backward"
        self._forward_mode_checked = True


class GGNOperator(EmpiricalRiskOperator):
    """G = Σ_b (n_b/N) J_bᵀ ∇²_f ℓ J_b (positive semi-definite for convex losses)."""

    def _batch_map(self, inputs: Any, targets: Tensor, cached: bool) -> Callable[[dict], dict]:
        forward = lambda p: self._forward(p, inputs)  # noqa: E731
        outputs, pullback = vjp(forward, self.params)
        # ∇²_f ℓ by reverse-over-reverse on the (small) output space: robust for every loss.
        _, loss_hvp = vjp(grad(lambda out: self.loss_fn(out, targets)), outputs)
        if cached:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                push = torch.func.linearize(forward, self.params)[1]
        else:
            push = lambda t: jvp(forward, (self.params,), (t,))[1]  # noqa: E731
        return lambda t: pullback(loss_hvp(push(t))[0])[0]


class EmpiricalFisherOperator(EmpiricalRiskOperator):
    """F = (1/N) Σ_μ g_μ g_μᵀ with per-sample gradients g_μ = ∇_θ ℓ(f(x_μ), y_μ).

    Per-sample gradients are computed ``sample_chunk`` samples at a time with ``vmap(grad)``;
    for networks of Linear and Conv2d layers only,
    :func:`~curvlab.curvature.per_sample_grad_sq_norms` gets their norms (hence Tr F) from layer
    identities, much faster.
    BatchNorm in train mode couples the samples of a batch, so per-sample gradients (and this
    operator) require ``mode="eval"`` for networks with BatchNorm. The other arguments are
    :class:`EmpiricalRiskOperator`'s.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Sequence[Batch],
        *,
        params: Sequence[str] | None = None,
        mode: Mode = "eval",
        dtype: torch.dtype | None = None,
        check_deterministic: bool = True,
        max_vectors: int = 32,
        cache: Switch = "auto",
        cache_budget: float = 0.25,
        vectorize: Switch = "auto",
        sample_chunk: int = 128,
    ) -> None:
        check_counts(sample_chunk=sample_chunk)
        self.sample_chunk = sample_chunk
        super().__init__(
            model,
            loss_fn,
            batches,
            params=params,
            mode=mode,
            dtype=dtype,
            check_deterministic=check_deterministic,
            max_vectors=max_vectors,
            cache=cache,
            cache_budget=cache_budget,
            vectorize=vectorize,
        )
        has_bn = any(isinstance(m, _BATCHNORM) for m in self.model.modules())
        if has_bn and self.mode == "train":
            raise CurvatureInputError(
                "per-sample gradients of a BatchNorm network need mode='eval' (--mode eval): in "
                "train mode BatchNorm couples the samples of a batch"
            )

    def _per_sample_grads(self, inputs: Tensor, targets: Tensor) -> Iterator[Tensor]:
        """Per-sample gradients as (P, c) float64 matrices, c ≤ ``sample_chunk``."""

        def sample_loss(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
            return self._loss(params, x.unsqueeze(0), y.unsqueeze(0))

        per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
        for start in range(0, _sample_count(inputs), self.sample_chunk):
            chunk = slice(start, start + self.sample_chunk)
            g = per_sample(self.params, inputs[chunk], targets[chunk])
            yield self.space.flatten(g, batched=True).double()

    def matmat_rows(self, rows: Tensor) -> Tensor:
        out = torch.zeros(rows.shape, dtype=torch.float64, device=self.device)
        with self._model_mode():
            for inputs, targets in self.batches:
                for g in self._per_sample_grads(inputs, targets):
                    out += (rows @ g) @ g.T
        return out / self.num_data

    @property
    def product_dtype(self) -> torch.dtype:
        # The per-sample gradients may be float32, but the products with them are float64
        # linear algebra on fixed vectors: a float64 rounding level.
        return torch.float64

    def per_sample_sq_norms_mean(self) -> float:
        """(1/N) Σ_μ ‖g_μ‖² = Tr F, without forming F."""
        total = 0.0
        with self._model_mode():
            for inputs, targets in self.batches:
                for g in self._per_sample_grads(inputs, targets):
                    total += float((g * g).sum())
        return total / self.num_data

    def trace(self) -> float:
        return self.per_sample_sq_norms_mean()


class NoiseCovarianceOperator(EmpiricalFisherOperator):
    """Σ = (1/B)[(1/N) Σ_μ g_μ g_μᵀ − ∇L ∇Lᵀ]: covariance of a size-B minibatch gradient.

    ``noise_strength()`` is 𝒩 = (1/N) Σ_μ ‖g_μ‖² − ‖∇L‖² = B · Tr Σ, exactly as Mori et al.
    define it (with the −‖∇L‖² term). The other arguments are :class:`EmpiricalFisherOperator`'s.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Sequence[Batch],
        *,
        params: Sequence[str] | None = None,
        mode: Mode = "eval",
        dtype: torch.dtype | None = None,
        check_deterministic: bool = True,
        max_vectors: int = 32,
        cache: Switch = "auto",
        cache_budget: float = 0.25,
        vectorize: Switch = "auto",
        sample_chunk: int = 128,
        batch_size: int = 1,
    ) -> None:
        check_counts(batch_size=batch_size)
        self.batch_size = batch_size
        super().__init__(
            model,
            loss_fn,
            batches,
            params=params,
            mode=mode,
            dtype=dtype,
            check_deterministic=check_deterministic,
            max_vectors=max_vectors,
            cache=cache,
            cache_budget=cache_budget,
            vectorize=vectorize,
            sample_chunk=sample_chunk,
        )
        self.mean_gradient = self.gradient()

    def matmat_rows(self, rows: Tensor) -> Tensor:
        g = self.mean_gradient[:, None]
        return (super().matmat_rows(rows) - (rows @ g) @ g.T) / self.batch_size

    def noise_strength(self) -> float:
        return self.per_sample_sq_norms_mean() - float(self.mean_gradient @ self.mean_gradient)

    def trace(self) -> float:
        return self.noise_strength() / self.batch_size
