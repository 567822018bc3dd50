"""The empirical neural tangent kernel Gram matrix Θ̂ = J Jᵀ, chunked over samples and parameters.

J is the (N·n_L) × P Jacobian of the outputs f(x_i) ∈ R^{n_L} of N inputs with respect to the
parameters; rows are sample-major (row i·n_L + k is output k of sample i). Because
Θ̂ = Σ_p J_p J_pᵀ over parameter tensors p, each tensor's Jacobian is formed on its own, for as
many samples at a time as ``max_jacobian_bytes`` allows; blocks of Θ̂ for pairs of sample blocks
are accumulated in float64. Memory is bounded by the budget, time grows with (N / block)².
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from curvlab.curvature.errors import check_choice
from curvlab.curvature.operators import Mode
from curvlab.curvature.params import ParameterSpace


def ntk_gram(
    model: nn.Module,
    inputs: Tensor,
    *,
    params: Sequence[str] | None = None,
    mode: Mode = "eval",
    sample_chunk: int = 64,
    max_jacobian_bytes: int = 2 << 30,
) -> Tensor:
    """Θ̂ = J Jᵀ for ``inputs`` (N, …), float64, shape (N·n_L, N·n_L)."""
    check_choice("mode", mode, get_args(Mode))
    space = ParameterSpace.of(model, params)
    values = space.values(model)
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    was_training = model.training
    model.train(mode == "train")
    try:
        n = inputs.shape[0]
        with torch.no_grad():
            n_out = functional_call(model, (values, buffers), (inputs[:1],)).reshape(1, -1).shape[1]
        gram = torch.zeros(n * n_out, n * n_out, dtype=torch.float64, device=inputs.device)
        for name in space.names:
            others = {k: v for k, v in values.items() if k != name}

            def single(w: Tensor, x: Tensor, name: str = name, others: dict = others) -> Tensor:
                out = functional_call(model, ({**others, name: w}, buffers), (x.unsqueeze(0),))
                return out.reshape(-1)

            jac = vmap(jacrev(single), in_dims=(None, 0))
            size = values[name].numel()
            itemsize = values[name].element_size()
            rows = max(1, min(n, max_jacobian_bytes // max(1, n_out * size * itemsize)))

            def block(lo: int, hi: int, jac=jac, name: str = name, size: int = size) -> Tensor:
                parts = [
                    jac(values[name], inputs[s : min(s + sample_chunk, hi)]).reshape(-1, size)
                    for s in range(lo, hi, sample_chunk)
                ]
                return torch.cat(parts).double()

            for a in range(0, n, rows):
                ja = block(a, min(a + rows, n))
                ra = slice(a * n_out, min(a + rows, n) * n_out)
                gram[ra, ra] += ja @ ja.T
                for b in range(a + rows, n, rows):
                    jb = block(b, min(b + rows, n))
                    rb = slice(b * n_out, min(b + rows, n) * n_out)
                    cross = ja @ jb.T
                    gram[ra, rb] += cross
                    gram[rb, ra] += cross.T
        return gram
    finally:
        model.train(was_training)
