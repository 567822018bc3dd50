"""Parameters as one flat vector: the coordinate system every curvature operator acts in.

θ ∈ R^P is the concatenation, in ``model.named_parameters()`` order, of every parameter that
requires a gradient. :class:`ParameterSpace` converts between that flat vector (or a batch of
them, shape (P, k)) and the ``{name: tensor}`` dicts that :func:`torch.func.functional_call`
takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from curvlab.curvature.errors import CurvatureInputError


@dataclass(frozen=True)
class ParameterSpace:
    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]

    @classmethod
    def of(cls, model: nn.Module, names: Iterable[str] | None = None) -> ParameterSpace:
        """The trainable parameters of ``model`` (or the named subset, in model order)."""
        wanted = None if names is None else set(names)
        pairs = [
            (n, p.shape)
            for n, p in model.named_parameters()
            if p.requires_grad and (wanted is None or n in wanted)
        ]
        if wanted is not None and len(pairs) != len(wanted):
            missing = wanted - {n for n, _ in pairs}
            raise KeyError(f"no trainable parameters named {sorted(missing)}")
        if not pairs:
            raise CurvatureInputError("the model has no trainable parameters")
        return cls(tuple(n for n, _ in pairs), tuple(s for _, s in pairs))

    @property
    def sizes(self) -> list[int]:
        return [s.numel() for s in self.shapes]

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def flatten(self, tensors: dict[str, Tensor], batched: bool = False) -> Tensor:
        """dict → (P,) or, with ``batched``, dict of (k, *shape) → (P, k)."""
        if batched:
            return torch.cat([tensors[n].reshape(tensors[n].shape[0], -1) for n in self.names], 1).T
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def unflatten(self, vector: Tensor) -> dict[str, Tensor]:
        """(P,) → dict of views; (P, k) → dict of (k, *shape) tensors."""
        if vector.shape[0] != self.dim:
            raise ValueError(f"vector has {vector.shape[0]} rows, the parameter space {self.dim}")
        pieces = torch.split(vector, self.sizes, dim=0)
        if vector.ndim == 1:
            return {n: p.view(s) for n, p, s in zip(self.names, pieces, self.shapes, strict=True)}
        k = vector.shape[1]
        return {
            n: p.T.reshape(k, *s) for n, p, s in zip(self.names, pieces, self.shapes, strict=True)
        }

    def flatten_rows(self, tensors: dict[str, Tensor]) -> Tensor:
        """dict of (k, *shape) → (k, P), one vector per row."""
        return torch.cat([tensors[n].reshape(tensors[n].shape[0], -1) for n in self.names], 1)

    def unflatten_rows(self, rows: Tensor) -> dict[str, Tensor]:
        """(k, P) → dict of (k, *shape) views (no copy of a contiguous ``rows``)."""
        if rows.shape[1] != self.dim:
            raise ValueError(f"rows have {rows.shape[1]} entries, the parameter space {self.dim}")
        pieces = torch.split(rows, self.sizes, dim=1)
        k = rows.shape[0]
        return {
            n: p.reshape(k, *s) for n, p, s in zip(self.names, pieces, self.shapes, strict=True)
        }

    def values(self, model: nn.Module) -> dict[str, Tensor]:
        """Detached current values of these parameters."""
        params = dict(model.named_parameters())
        return {n: params[n].detach() for n in self.names}
