"""Du et al. (2018) experiments against independent truth: exact identities, autograd-free
linearizations, determinism, divergence handling; the measures on known numbers; the claims
(every id at every scale, NOT RUN and INCONCLUSIVE where they apply); the job planning."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from specutil import tiny_spec

from curvlab import registry
from curvlab.claims import evaluate as evaluate_claims
from curvlab.claims.du2018 import CLAIMS as DU_CLAIMS
from curvlab.claims.du2018 import PAPER
from curvlab.config import load_config, load_yaml, merge, validate_config
from curvlab.experiments.du2018 import (
    FactorizationSpec,
    NetworkSpec,
    factorization_target,
    run_factorization,
    run_network,
)
from curvlab.io import TableSchema
from curvlab.measures.du2018 import (
    FactorizationRun,
    constant_reduction,
    drift_spread,
    measured_rate,
    network_run,
    ratio_gap,
    wide,
)
from curvlab.papers import du2018 as plugin
from curvlab.papers.du2018 import DU2018_FACTORIZATION, DU2018_NETWORK
from curvlab.plugin import num
from curvlab.runtime import numpy_rng
from curvlab.tables import CLAIMS
from curvlab.theory.du import mf_balance_step_drift, rank1_linear_rate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def tiny_runs() -> pd.DataFrame:
    frames = [
        run_network(tiny_spec(NetworkSpec, init="balanced", init_sq_norms=(0.1, 0.1, 0.1))),
        run_network(tiny_spec(NetworkSpec, init="unbalanced", init_sq_norms=(10, 1, 0.1))),
    ]
    return pd.concat(frames, ignore_index=True)


def conforms(frame: pd.DataFrame, schema: TableSchema) -> None:
    schema.conform(frame, where="test")


def test_network_table_conforms_and_identities_hold(tiny_runs):
    conforms(tiny_runs, DU2018_NETWORK)
    for _, run in tiny_runs.groupby("init"):
        w = wide(run)
        for h in (1, 2):
            d = w[("w_sq_norm", h + 1)] - w[("w_sq_norm", h)]
            # Exact discrete identity: D_h(t) − D_h(0) = Σ_s η²(‖G_{h+1}(s)‖² − ‖G_h(s)‖²),
            # recomputed here from the logged gradient norms (an independent path from the
            # accumulator inside the run).
            g = w[("grad_sq_norm", h + 1)] - w[("grad_sq_norm", h)]
            predicted = run["eta"].iloc[0] ** 2 * g.shift(1).fillna(0).cumsum()
            assert np.allclose(d - d.iloc[0], predicted, rtol=0, atol=1e-12)
            assert np.allclose(w[("drift_predicted_cum", h)], predicted, rtol=0, atol=1e-14)
            assert w[("identity_residual_max", h)].iloc[-1] <= 10
        inner = w["w_grad_inner"]
        assert np.allclose(inner[1], inner[3], rtol=1e-9, atol=1e-300)


def test_network_runs_are_deterministic():
    spec = tiny_spec(NetworkSpec, init="balanced", steps=50)
    pd.testing.assert_frame_equal(run_network(spec), run_network(spec))


def test_divergence_is_recorded_not_raised():
    # A bias-free ReLU net with a too-large step usually dies (all units off, loss stuck) rather
    # than overflowing; a huge step overflows the weights at once.
    frame = run_network(
        tiny_spec(NetworkSpec, init="unbalanced", init_sq_norms=(10, 1, 0.1), eta=1e100, steps=200)
    )
    assert frame["diverged"].all()
    loss = wide(frame)[("loss", 0)]
    assert not math.isfinite(loss.iloc[-1])
    assert loss.index.max() < 200  # stopped at the first non-finite loss
    conforms(frame, DU2018_NETWORK)
    # Matrix factorization with ησ₁ = 3 blows up for real.
    mf = run_factorization(
        tiny_spec(
            FactorizationSpec,
            shape=(8, 6),
            rank=2,
            init="unbalanced",
            eta0=3.0,
            exponent=0.0,
            steps=500,
        )
    )
    assert mf["diverged"].all()
    assert wide(mf).index.max() < 500


def test_mf_one_step_identity_is_exact():
    rng = np.random.default_rng(0)
    u, v, m = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)), rng.normal(size=(7, 5))
    eta = 0.05
    r = u @ v.T - m
    u2, v2 = u - eta * r @ v, v - eta * r.T @ u
    change = (u2.T @ u2 - v2.T @ v2) - (u.T @ u - v.T @ v)
    assert np.allclose(change, mf_balance_step_drift(eta, u, v, r), rtol=0, atol=1e-13)


@pytest.mark.parametrize("eta_sigma", [0.1, 0.5, 0.9])
def test_rank1_rate_equals_spectral_radius_of_the_linearized_gd_map(eta_sigma):
    """Independent check of the rate formula: Jacobian of one GD step at a balanced optimum."""
    m = factorization_target((6, 4), 1, numpy_rng(0, "test"))
    sigma = float(np.linalg.norm(m, ord=2))
    left, _, right = np.linalg.svd(m)
    u0, v0 = math.sqrt(sigma) * left[:, 0], math.sqrt(sigma) * right[0]
    eta = eta_sigma / sigma
    mt = torch.as_tensor(m)

    def step(theta: torch.Tensor) -> torch.Tensor:
        u, v = theta[:6], theta[6:]
        r = torch.outer(u, v) - mt
        return torch.cat([u - eta * r @ v, v - eta * r.T @ u])

    jac = torch.autograd.functional.jacobian(step, torch.as_tensor(np.r_[u0, v0]))
    eig = np.abs(np.linalg.eigvals(jac.numpy()))
    moving = eig[~np.isclose(eig, 1.0, atol=1e-9)]  # drop the flat rescaling orbit
    assert moving.max() == pytest.approx(rank1_linear_rate(eta, sigma), abs=1e-10)


def test_rank1_run_converges_at_the_predicted_rate():
    spec = tiny_spec(
        FactorizationSpec,
        study="rank1",
        shape=(12, 9),
        rank=1,
        eta0=0.5,
        exponent=0.0,
        steps=600,
        log_every=1,
    )
    frame = run_factorization(spec)
    conforms(frame, DU2018_FACTORIZATION)
    w = wide(frame)
    assert measured_rate(w["rel_err"]) == pytest.approx(rank1_linear_rate(0.5, 1.0), abs=2e-3)
    assert w["identity_residual_max"].iloc[-1] <= 10


def test_decaying_schedule_from_small_init_reaches_the_balanced_optimum():
    spec = tiny_spec(FactorizationSpec, shape=(12, 9), rank=2, eta0=0.5, exponent=0.6, steps=4000)
    w = wide(run_factorization(spec))
    assert w["rel_err"].iloc[-1] < 1e-6
    assert abs(w["u_sq_norm"].iloc[-1] / w["m_nuclear_norm"].iloc[0] - 1) < 1e-4


def _mf_tables() -> pd.DataFrame:
    return pd.concat(
        [
            run_factorization(
                tiny_spec(FactorizationSpec, study="decaying", shape=(12, 9), rank=2, steps=3000)
            ),
            run_factorization(
                tiny_spec(
                    FactorizationSpec,
                    study="decaying",
                    init="unbalanced",
                    shape=(12, 9),
                    rank=2,
                    steps=10_000,
                )
            ),
            run_factorization(
                tiny_spec(
                    FactorizationSpec,
                    study="rank1",
                    shape=(12, 9),
                    rank=1,
                    eta0=0.5,
                    exponent=0.0,
                    steps=600,
                    log_every=1,
                )
            ),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def mf_runs() -> pd.DataFrame:
    return _mf_tables()


def verdicts(tables, scale="ci") -> pd.DataFrame:
    return evaluate_claims(PAPER, tables, scale).set_index("claim_id")


def test_claims_table_conforms_and_exact_identities_pass(tiny_runs, mf_runs):
    tables = {"du2018.network": tiny_runs, "du2018.factorization": mf_runs}
    claims = evaluate_claims(PAPER, tables, "ci")
    CLAIMS.conform(claims, where="claims")
    assert list(claims["claim_id"]) == [spec.id for spec in DU_CLAIMS]
    by_id = claims.set_index("claim_id")
    for cid in (
        "identity_per_step",
        "identity_cumulative",
        "identity_neuronwise",
        "homogeneity",
        "mf_identity_per_step",
        "mf_identity_cumulative",
        "mf_rank1_linear_rate",
    ):
        assert by_id.loc[cid, "verdict"] == "REPRODUCED", by_id.loc[cid].to_dict()
    assert by_id.loc["mf_unbalanced_not_balanced", "verdict"] == "CONTRADICTION CONFIRMED"


def test_switched_off_studies_give_not_run_with_the_reason(tiny_runs, mf_runs):
    """No large-η, drift, constant-step or paper-schedule runs in the tables: those claims are
    NOT RUN and say which study and config key; every declared id is still there."""
    by_id = verdicts({"du2018.network": tiny_runs, "du2018.factorization": mf_runs})
    for cid, key in (
        ("large_eta_balance_lost", "du2018.large_eta.enabled"),
        ("drift_order_eta", "du2018.drift.enabled"),
        ("mf_constant_small_step_keeps", "studies.constant.enabled"),
        ("mf_constant_partial_rebalance", "studies.constant.enabled"),
        ("mf_paper_schedule_stalls", "studies.paper_schedule.enabled"),
    ):
        assert by_id.loc[cid, "verdict"] == "NOT RUN"
        assert key in by_id.loc[cid, "description"]
    only_network = verdicts({"du2018.network": tiny_runs})
    assert (
        only_network.loc[only_network.index.str.startswith("mf_"), "verdict"] == "NOT RUN"
    ).all()


@pytest.mark.parametrize("scale", ["ci", "default", "offline", "paper"])
def test_the_same_ids_at_every_scale_whatever_ran(scale, tiny_runs):
    declared = [spec.id for spec in DU_CLAIMS]
    for tables in ({}, {"du2018.network": tiny_runs}):
        assert list(evaluate_claims(PAPER, tables, scale)["claim_id"]) == declared


def _scaled_loss(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The run with its loss after step 0 replaced by a flat factor·L(0) (an untrained run)."""
    out = frame.copy()
    loss = out["quantity"] == "loss"
    first = out.loc[loss & (out["step"] == 0), ["init", "value"]].set_index("init")["value"]
    later = loss & (out["step"] > 0)
    out.loc[later, "value"] = factor * out.loc[later, "init"].map(first).to_numpy()
    return out


def test_an_untrained_run_makes_the_ratio_claims_inconclusive_never_fail(tiny_runs):
    by_id = verdicts({"du2018.network": _scaled_loss(tiny_runs, 0.5)})
    for cid in ("ratio_prediction", "d_conserved", "balanced_ratio", "unbalanced_ratio"):
        assert by_id.loc[cid, "verdict"] == "INCONCLUSIVE", cid
        assert "NOT met" in by_id.loc[cid, "preconditions"]
        assert math.isfinite(by_id.loc[cid, "measured"])  # the value is still shown
    # The identities do not depend on training and are still judged.
    assert by_id.loc["identity_cumulative", "verdict"] == "REPRODUCED"


def test_a_monotone_large_step_run_is_outside_the_claim_and_inconclusive(tiny_runs):
    large = tiny_runs[tiny_runs["init"] == "balanced"].copy()
    large["experiment"] = "large_eta"
    by_id = verdicts({"du2018.network": pd.concat([tiny_runs, large], ignore_index=True)})
    row = by_id.loc["large_eta_balance_lost"]
    assert row["verdict"] == "INCONCLUSIVE" and "non-monotone" in row["preconditions"]


def test_a_violated_identity_fails_its_claim(tiny_runs):
    broken = tiny_runs.copy()
    rows = (broken["quantity"] == "drift_predicted_cum") & (broken["layer"] == 1)
    broken.loc[rows, "value"] += 1e-3
    mf = run_factorization(tiny_spec(FactorizationSpec, shape=(8, 6), rank=1, steps=200))
    by_id = verdicts({"du2018.network": broken, "du2018.factorization": mf})
    assert by_id.loc["identity_cumulative", "verdict"] == "DISCREPANCY"


# --------------------------------------------------------------------------- measures


def test_ratio_gap_is_the_drift_of_d_relative_to_the_layer(tiny_runs):
    """ratio − (1 + D(0)/‖W_h‖²) recomputed from the raw norms, and the identity behind it."""
    for _, run in tiny_runs.groupby("init"):
        w = wide(run)
        for h in (1, 2):
            a, b = w[("w_sq_norm", h)].to_numpy(), w[("w_sq_norm", h + 1)].to_numpy()
            direct = b / a - (1 + (b[0] - a[0]) / a)
            assert np.allclose(ratio_gap(w, h).to_numpy(), direct, rtol=0, atol=1e-14)
            assert np.allclose(direct, ((b - a) - (b[0] - a[0])) / a, rtol=0, atol=1e-12)
        stats = network_run({"init": "x", "eta": 0.2, "seed": 0}, w)
        assert stats.ratio_gap == pytest.approx(
            max(float(ratio_gap(w, h).abs().max()) for h in (1, 2)), rel=1e-12
        )


def test_measured_rate_of_an_exact_geometric_error():
    steps = np.arange(200)
    for rate in (0.5, 0.9):
        err = pd.Series(rate**steps, index=steps)
        assert measured_rate(err) == pytest.approx(rate, rel=1e-12)
    assert math.isnan(measured_rate(pd.Series([1.0, 1.0], index=[0, 1])))


def test_drift_spread_and_constant_reduction_on_known_numbers():
    table = pd.DataFrame(
        {
            "init": ["balanced"] * 3,
            "eta": [0.02, 0.05, 0.1],
            "seed": [0] * 3,
            "pair": [1] * 3,
            "drift_per_eta": [1.0, 1.1, 0.9],
        }
    )
    (row,) = drift_spread(table).itertuples()
    assert row.spread == pytest.approx(0.2 / 1.0) and row.n_eta == 3
    runs = [
        FactorizationRun("constant", "unbalanced", e, 0, 1e-9, 1, 1e-13, 1, 1, k, math.nan)
        for e, k in ((0.1, 0.99), (0.5, 0.7), (0.5, 0.6))
    ]
    reduction = constant_reduction(runs)
    assert list(reduction) == [0.1, 0.5]
    assert reduction[0.1] == [pytest.approx(0.01)]
    assert reduction[0.5] == [pytest.approx(0.3), pytest.approx(0.4)]


def test_ci_bands_were_measured_at_the_ci_setting():
    """The ci tolerances rest on runs at presets/ci.yaml's setting (docs/papers/du2018.md):
    if the ci network or factorization changes, they must be recalibrated."""
    ci = config(load_yaml(ROOT / "presets" / "ci.yaml"))["du2018"]
    assert ci["model"]["input_dim"] == 50 and ci["model"]["hidden_dims"] == [20, 20]
    assert ci["model"]["output_dim"] == 5 and ci["model"]["n_samples"] == 200
    assert ci["network"]["etas"] == [0.2] and ci["network"]["steps"] == 3000
    assert ci["factorization"]["shape"] == [15, 20]
    overlay = load_yaml(ROOT / "presets" / "calibrate" / "du2018-ci.yaml")
    assert overlay["papers"] == ["du2018"]
    # The overlay adds seeds only.
    assert {k: set(v) for k, v in overlay["du2018"].items()} == {
        "network": {"seeds"},
        "drift": {"seeds"},
        "factorization": {"seeds"},
    }


def test_figures_use_the_measures_not_the_claims():
    source = (ROOT / "src" / "curvlab" / "plots" / "du2018.py").read_text()
    assert "curvlab.claims" not in source and "curvlab.measures.du2018" in source


# --------------------------------------------------------------------------- planning


def _tuples(value):
    """A planned (JSON) value as the spec holds it: lists become tuples."""
    return tuple(value) if isinstance(value, list) else value


def config(*overlays):
    base = load_config([ROOT / "config.yaml"], SCHEMA)
    for overlay in overlays:
        base = merge(base, overlay)
    return validate_config(base, SCHEMA)


def test_every_planned_job_has_a_valid_spec_that_its_path_names():
    """Each spec builds with the planned values unchanged, and its path names the run keys
    (so two runs that differ in a key never write the same file)."""
    for preset in ("ci", "paper"):
        cfg = load_config([ROOT / "config.yaml", ROOT / "presets" / f"{preset}.yaml"], SCHEMA)
        jobs = [j for j in registry.all_jobs(cfg).values() if j.task.startswith("du2018-")]
        assert {j.task for j in jobs} == {"du2018-network", "du2018-factorization"}
        for job in jobs:
            if job.task == "du2018-network":
                spec = NetworkSpec(**job.spec)
                path = plugin.NETWORK_RUN.format(
                    experiment=spec.experiment,
                    init=spec.init,
                    eta=num(spec.eta),
                    steps=spec.steps,
                    seed=spec.seed,
                )
            else:
                spec = FactorizationSpec(**job.spec)
                path = plugin.FACTORIZATION_RUN.format(
                    study=spec.study,
                    init=spec.init,
                    eta0=num(spec.eta0),
                    steps=spec.steps,
                    seed=spec.seed,
                )
            built = {k: v for k, v in dataclasses.asdict(spec).items() if k in job.spec}
            assert built == {k: _tuples(v) for k, v in job.spec.items()}, job.path
            assert job.path == path


def test_drift_runs_share_the_gradient_flow_horizon():
    jobs = plugin.network_jobs(config())
    drift = [j.spec for j in jobs if j.spec["experiment"] == "drift"]
    assert {round(s["eta"] * s["steps"], 6) for s in drift} == {2000.0}


def test_adding_a_seed_or_a_step_size_plans_only_the_new_jobs():
    before = registry.all_jobs(config())
    more_seeds = registry.all_jobs(config({"du2018": {"network": {"seeds": [0, 1, 2, 3]}}}))
    new = set(more_seeds) - set(before)
    assert len(new) == 2 and all("/network/" in p and p.endswith("seed~3.parquet") for p in new)
    assert all(more_seeds[p].spec == before[p].spec for p in before)
    new_eta = registry.all_jobs(config({"du2018": {"network": {"etas": [0.2, 0.1]}}}))
    added = set(new_eta) - set(before)
    assert len(added) == 6 and all("/eta~0.1/" in p for p in added)
    assert all(new_eta[p].spec == before[p].spec for p in before)
