"""Squared norms of per-sample gradients from per-layer identities, without forming them.

The trace of the empirical Fisher, Tr F = (1/N)Σ_μ‖∇ℓ_μ‖², and Mori et al.'s noise strength
need only these norms. :class:`~curvlab.curvature.EmpiricalFisherOperator` computes them for any
network from per-sample gradients by ``vmap``; for networks made of ``nn.Linear`` and
``nn.Conv2d`` layers, :func:`per_sample_grad_sq_norms` gets them exactly from one forward and
one backward pass, much faster.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from curvlab.curvature.operators import LossFn
from curvlab.models.losses import half_mse


def per_sample_grad_sq_norms(
    model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn | None = None
) -> tuple[Tensor, list[Tensor]]:
    """‖∇_θ ℓ_μ‖² for every sample of (x, y), and Σ_μ ∇_θ ℓ_μ, without per-sample gradients.

    For a linear layer z = Wa + b, ∇_W ℓ_μ = δ_μa_μᵀ with δ_μ = ∂ℓ_μ/∂z_μ, so
    ‖∇_W ℓ_μ‖² = ‖δ_μ‖²‖a_μ‖² and ‖∇_b ℓ_μ‖² = ‖δ_μ‖²; for a convolution the per-sample
    weight gradient is δ_μ (C_out × positions) times the unfolded input (positions × C_in·k²),
    formed one batch at a time. Exact for networks whose parameters all sit in ``nn.Linear``
    and ``nn.Conv2d`` layers (anything else raises). ℓ_μ is ``loss_fn`` of one sample
    (default ½‖f − y‖²). Returns the norms, float64 (N,), and the summed gradient of every
    parameter (float64, in ``model.parameters()`` order): one forward and one backward pass.
    """
    loss_fn = loss_fn or half_mse
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    covered = {id(p) for m in layers for p in m.parameters(recurse=False)}
    if any(id(p) not in covered for p in model.parameters() if p.requires_grad):
        raise ValueError("per_sample_grad_sq_norms handles Linear and Conv2d parameters only")
    saved: dict[nn.Module, tuple[Tensor, Tensor]] = {}

    def keep(module, inputs, output):
        saved[module] = (inputs[0].detach(), output)

    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        out = model(x)
        # Σ_μ ℓ_μ: its gradient with respect to a layer's output is δ_μ for every sample μ.
        total = loss_fn(out, y) * out.shape[0]
        deltas = torch.autograd.grad(total, [saved[m][1] for m in layers])
    finally:
        for handle in handles:
            handle.remove()
    norms = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    sums: dict[int, Tensor] = {}
    with torch.no_grad():
        for module, delta in zip(layers, deltas, strict=True):
            a = saved[module][0]
            if isinstance(module, nn.Linear):
                d = delta.double()
                norms += d.pow(2).sum(dim=1) * a.double().pow(2).sum(dim=1)
                sums[id(module.weight)] = d.T @ a.double()
                bias = d
            else:
                cols = nn.functional.unfold(
                    a,
                    module.kernel_size,
                    dilation=module.dilation,
                    padding=module.padding,
                    stride=module.stride,
                )
                d = delta.reshape(delta.shape[0], delta.shape[1], -1)
                weight_grad = torch.bmm(d, cols.transpose(1, 2)).double()
                norms += weight_grad.pow(2).sum(dim=(1, 2))
                sums[id(module.weight)] = weight_grad.sum(dim=0).reshape(module.weight.shape)
                bias = d.sum(dim=2).double()
            if module.bias is not None:
                norms += bias.pow(2).sum(dim=1)
                sums[id(module.bias)] = bias.sum(dim=0)
    grads = [sums[id(p)] for p in model.parameters() if p.requires_grad]
    return norms, grads
