"""Small, fast specs for unit tests.

Spec dataclasses have no defaults for config keys (the config schema holds them), so a test
builds its spec with :func:`tiny_spec`: every field gets a small value from :data:`TINY`, and the
test overrides what it is about. Tests then never depend on the production defaults.
"""

from __future__ import annotations

from typing import Any, TypeVar

from curvlab.experiments import du2018, ghorbani2019, huh2020, jacot2020, mori2022

S = TypeVar("S")

_HUH_PROBLEM = dict(
    n_dim=6, depth=3, n_samples=6, teacher_singular_values=(2.0, 1.0), noise_std=0.3, init_scale=0.1
)
_JACOT_DATA = dict(
    n_samples=6, image_size=7, labels="parity", input_norm="sample", data_root="data"
)
_JACOT_MODEL = dict(nonlinearity="softplus", depth=3, beta=0.1)
_JACOT_COMPUTE = dict(chunk=32, jacobian_bytes=1 << 30)
_GHORBANI_DATA = dict(
    dataset="mnist", data_root="unused", n_samples=60, subset_seed=0, image_size=None
)
_GHORBANI_RUN = dict(arch="mlp-8", bn="none", eta=0.05, seed=0, checkpoint_dir="unused")

#: Every field of every spec dataclass: tiny sizes, the papers' values for the rest.
TINY: dict[type, dict[str, Any]] = {
    du2018.NetworkSpec: dict(
        experiment="network",
        init="balanced",
        init_sq_norms=(0.1, 0.1, 0.1),
        input_dim=20,
        hidden_dims=(8, 8),
        output_dim=3,
        n_samples=50,
        target="relu",
        eta=0.2,
        steps=400,
        seed=0,
        log_every=1,
        neuron_every=100,
    ),
    du2018.FactorizationSpec: dict(
        study="decaying",
        shape=(8, 6),
        rank=2,
        factor_rank=None,
        init="small",
        init_scale=1e-3,
        unbalanced_scale=0.1,
        unbalanced_skew=3.0,
        eta0=0.5,
        exponent=0.6,
        normalizer="sigma1",
        steps=200,
        seed=0,
        log_every=100,
    ),
    huh2020.Problem: _HUH_PROBLEM,
    huh2020.TrainSpec: dict(
        run="gd",
        structure="full",
        alpha=0.0,
        eps=0.0,
        clip=None,
        eta=0.01,
        horizon=1.0,
        seeds=(0,),
        **_HUH_PROBLEM,
        log_points=60,
        log_points_early=120,
        checks=True,
    ),
    huh2020.ModesSpec: dict(
        seeds=(0,),
        eta=0.01,
        **_HUH_PROBLEM,
        log_spread=0.3,
        methods={},
        matrix_steps=20,
        logged_modes=3,
        log_points=80,
        logdet_scale=0.3,
        logdet_steps=100,
        euler_refinement=(0.5,),
    ),
    jacot2020.KernelsSpec: dict(**_JACOT_DATA, **_JACOT_MODEL, nodes=24),
    jacot2020.LambdaSpec: dict(
        **_JACOT_DATA, **_JACOT_MODEL, width=16, seeds=(0,), **_JACOT_COMPUTE
    ),
    jacot2020.InitSpec: dict(
        **_JACOT_DATA,
        **_JACOT_MODEL,
        width=8,
        seeds=(0,),
        probes=4,
        subset=3,
        upsilon_probes=2,
        kernels_path="",
        checks=False,
        **_JACOT_COMPUTE,
    ),
    jacot2020.TrialSpec: dict(
        **_JACOT_DATA,
        **_JACOT_MODEL,
        width=8,
        seeds=(0,),
        eta=0.4,
        grid=(0, 4),
        probes=2,
        loss_points=10,
        **_JACOT_COMPUTE,
        predictions=True,
    ),
    jacot2020.RayleighSpec: dict(
        **_JACOT_DATA,
        **{**_JACOT_MODEL, "nonlinearity": "normalized_softplus"},
        width=16,
        seed=0,
        top=4,
        lanczos_steps=12,
        s_order="LA",
        jacobian_bytes=1 << 30,
    ),
    jacot2020.SurfaceSpec: dict(
        nonlinearity="softplus",
        depth=4,
        beta=0.1,
        width=8,
        seed=0,
        n_samples=6,
        target="sine",
        eta_scale=1.0,
        train_steps=20,
        polish_steps=2,
        polish_tol=1e-6,
        grid_points=5,
        radius=3.0,
        directions=(4, 1),
    ),
    ghorbani2019.TrainSpec: dict(
        **_GHORBANI_DATA,
        **_GHORBANI_RUN,
        momentum=0.9,
        weight_decay=0.0,
        batch=20,
        steps=30,
        drops=[20],
        drop_factor=0.1,
        augment=[],
        eval_every=5,
        checkpoints=[0, 10, 30],
    ),
    ghorbani2019.CurvatureSpec: dict(
        **_GHORBANI_DATA,
        **_GHORBANI_RUN,
        steps=[0],
        hessian_modes=["none"],
        hessian_samples=None,
        batch=20,
        hessian_batch=60,
        lanczos_steps=30,
        draws=2,
        top_eigs=4,
        topk_steps=None,
        ks=[1, 4],
        filter_normalize=True,
        cache=False,
        vectorize=False,
        dtype="float64",
    ),
    ghorbani2019.ValidationSpec: dict(
        **{**_GHORBANI_DATA, "n_samples": 90, "image_size": 7},
        hidden=[6],
        train_steps=40,
        eta=0.05,
        batch=30,
        lanczos_steps=60,
        draws=3,
        sigma2s=[1e-5, 1e-3],
        grid_points=4000,
        seed=0,
    ),
    mori2022.DecouplingSpec: dict(
        dataset="mnist",
        data_root="unused",
        n_samples=40,
        image_size=7,
        hidden=(8, 8),
        eta=0.01,
        batch=10,
        epochs=(0, 1),
        seed=0,
    ),
    mori2022.NoiseSpec: dict(
        net="fc",
        dataset="fashion-mnist",
        data_root="unused",
        n_samples=40,
        image_size=7,
        widths=(8, 8),
        convs_per_stack=1,
        eta=0.1,
        batch=10,
        epochs=2,
        seed=0,
        method="layers",
    ),
    mori2022.StationarySpec: dict(
        eta=0.01,
        batch=1,
        n_samples=100,
        iterations=1000,
        sample_every=10,
        burn_in=100,
        chains=2,
        seed=0,
        kesten_draws=1000,
        sampling="fresh",
    ),
    mori2022.FirstPassageSpec: dict(
        dynamics="sgd",
        dim=1,
        n_samples=300,
        batch=1,
        eta=0.1,
        cs=(1.25, 1.5),
        chains=4,
        max_steps=3000,
        block=1000,
        warmup_time=20.0,
        max_draw_mb=256.0,
        seed=0,
    ),
}


#: Huh et al.'s five rules and the unclipped NGD variant at toy horizons (runs of ``TrainSpec``).
HUH_TOY_RUNS = {
    "gd": dict(structure="full", alpha=0.0, eps=0.0, clip=None, horizon=60.0),
    "ngd": dict(structure="full", alpha=1.0, eps=1e-5, clip=0.1, horizon=8.0),
    "ngd_d": dict(structure="block", alpha=1.0, eps=1e-5, clip=0.1, horizon=4.0),
    "sqrt_ngd": dict(structure="full", alpha=0.5, eps=1e-10, clip=None, horizon=10.0),
    "sqrt_ngd_d": dict(structure="block", alpha=0.5, eps=1e-10, clip=None, horizon=10.0),
    "ngd_unclipped": dict(structure="full", alpha=1.0, eps=1e-5, clip=None, horizon=3.0),
}


def tiny_spec(cls: type[S], **overrides: Any) -> S:
    """``cls`` built from its :data:`TINY` values with ``overrides`` on top."""
    return cls(**{**TINY[cls], **overrides})
