"""Toy (2026): draws for the throw-away test plug-in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DrawsSpec:
    n: int
    seed: int


def run_draws(spec: DrawsSpec) -> pd.DataFrame:
    draws = np.random.default_rng(spec.seed).standard_normal(spec.n)
    return pd.DataFrame({"n": [spec.n], "seed": [spec.seed], "value": [float(draws.mean())]})
