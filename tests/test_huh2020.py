"""Huh (2020) against independent truth: every rule against explicit matrices (J by autograd,
G = JᵀJ, powers by eigendecomposition), the Kronecker identities, mode decoupling, closed forms,
exact invariants, the experiment tables, the claims and the job planning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from specutil import HUH_TOY_RUNS, tiny_spec

from curvlab import plugin, registry
from curvlab.claims import evaluate
from curvlab.claims.huh2020 import CLAIMS, MODES_IDS
from curvlab.config import load_config, merge, validate_config
from curvlab.experiments.huh2020 import (
    ModesSpec,
    Problem,
    TrainSpec,
    _matrix_check,
    aligned_init,
    aligned_layers,
    logdet_law_check,
    make_problem,
    run_modes,
    run_train,
)
from curvlab.measures import huh2020 as ms
from curvlab.models import deep_linear as dl
from curvlab.optim import METHODS, Rule, direction, step
from curvlab.papers.huh2020 import CONTROLS, HUH2020_MODES, HUH2020_TRAIN
from curvlab.tables import CLAIMS as CLAIMS_TABLE
from curvlab.theory import huh

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
WIDTHS = (3, 4, 5, 2)  # rectangular on purpose: n_0 = 3 → 4 → 5 → n_d = 2


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(1)
    ws = [0.8 * rng.standard_normal((b, a)) for a, b in zip(WIDTHS[:-1], WIDTHS[1:], strict=True)]
    target = rng.standard_normal((WIDTHS[-1], WIDTHS[0]))
    return ws, dl.product(ws) - target


@pytest.fixture(scope="module")
def autograd_jacobian(tiny):
    """∂ vec(W)/∂θ by torch autograd: independent of the Kronecker formulas."""
    torch = pytest.importorskip("torch")
    ws, _ = tiny
    shapes = [w.shape for w in ws]

    def vec_map(theta):
        out, start = None, 0
        for r, c in shapes:
            w = theta[start : start + r * c].reshape(c, r).T  # column-major, as dl.vec
            start += r * c
            out = w if out is None else w @ out
        return out.T.reshape(-1)

    theta = torch.tensor(dl.flatten(ws), dtype=torch.float64)
    return torch.autograd.functional.jacobian(vec_map, theta).numpy()


def _power(matrix: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """(M + εI)^{−α} by eigendecomposition; at ε = 0 the pseudo-inverse power."""
    lam, q = np.linalg.eigh(matrix)
    w = np.zeros_like(lam)
    if eps > 0:
        w = (np.maximum(lam, 0) + eps) ** (-alpha)
    else:
        keep = lam > len(lam) * np.finfo(float).eps * lam.max()
        w[keep] = lam[keep] ** (-alpha)
    return (q * w) @ q.T


def _explicit(jac: np.ndarray, e: np.ndarray, rule: Rule, sizes: list[int]) -> np.ndarray:
    ev = dl.vec(e)
    if rule.structure == "full":
        return _power(jac.T @ jac, rule.alpha, rule.eps) @ (jac.T @ ev)
    out, start = [], 0
    for n in sizes:
        j = jac[:, start : start + n]
        out.append(_power(j.T @ j, rule.alpha, rule.eps) @ (j.T @ ev))
        start += n
    return np.concatenate(out)


# --------------------------------------------------------------------------- identities


def test_kronecker_identities_against_autograd(tiny, autograd_jacobian):
    ws, _ = tiny
    jac = dl.jacobian(ws)
    assert np.abs(jac - autograd_jacobian).max() <= 1e-12 * np.abs(jac).max()
    g = autograd_jacobian.T @ autograd_jacobian
    assert np.abs(dl.gauss_newton(ws) - g).max() <= 1e-12 * np.abs(g).max()
    jjt = autograd_jacobian @ autograd_jacobian.T
    assert np.abs(dl.jjt(ws) - jjt).max() <= 1e-12 * np.abs(jjt).max()
    # The layer gradient W_{>i}ᵀ E W_{<i}ᵀ is J_iᵀ vec(E).
    e = np.random.default_rng(2).standard_normal((WIDTHS[-1], WIDTHS[0]))
    grads = dl.flatten(dl.layer_gradients(ws, e))
    assert np.allclose(grads, autograd_jacobian.T @ dl.vec(e), rtol=0, atol=1e-12)


@pytest.mark.parametrize("structure", ["full", "block"])
@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("eps", [0.0, 1e-3, 1e-1])
def test_every_rule_matches_the_explicit_matrix_route(
    tiny, autograd_jacobian, structure, alpha, eps
):
    ws, e = tiny
    rule = Rule(structure, alpha, eps)
    fast = dl.flatten(direction(ws, e, rule))
    truth = _explicit(autograd_jacobian, e, rule, [w.size for w in ws])
    assert np.linalg.norm(fast - truth) <= 1e-10 * np.linalg.norm(truth)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_tiny_damping_matches_the_svd_of_the_explicit_jacobian(tiny, autograd_jacobian, alpha):
    """At ε ≪ σ_min(J)² the eigendecomposition of G loses digits; the SVD of J does not."""
    ws, e = tiny
    u, s, vt = np.linalg.svd(autograd_jacobian, full_matrices=False)
    truth = vt.T @ (s * (s * s + 1e-10) ** (-alpha) * (u.T @ dl.vec(e)))
    fast = dl.flatten(direction(ws, e, Rule("full", alpha, 1e-10)))
    assert np.linalg.norm(fast - truth) <= 1e-10 * np.linalg.norm(truth)


def test_undamped_limits_are_pseudo_inverse_and_polar_factors():
    """NGD-d at ε = 0 is W_{>i}⁻¹ E W_{<i}⁻¹, sqrt-NGD-d polar(W_{>i})ᵀ E polar(W_{<i})ᵀ."""
    rng = np.random.default_rng(3)
    ws = [np.eye(4) + 0.3 * rng.standard_normal((4, 4)) for _ in range(3)]
    e = rng.standard_normal((4, 4))
    pre, suf = dl.prefixes(ws), dl.suffixes(ws)

    def polar(m):
        u, _, vt = np.linalg.svd(m)
        return u @ vt

    ngd_d = direction(ws, e, Rule("block", 1.0, 0.0))
    sqrt_d = direction(ws, e, Rule("block", 0.5, 0.0))
    for i in range(3):
        assert np.allclose(ngd_d[i], np.linalg.inv(suf[i]) @ e @ np.linalg.inv(pre[i]), atol=1e-11)
        assert np.allclose(sqrt_d[i], polar(suf[i]).T @ e @ polar(pre[i]).T, atol=1e-12)
    # Full NGD at ε = 0 with J of full row rank moves the map by exactly −E to first order.
    v = direction(ws, e, Rule("full", 1.0, 0.0))
    jv = sum(s @ vi @ p for p, s, vi in zip(pre, suf, v, strict=True))
    assert np.allclose(jv, e, atol=1e-10)


def test_clipping_caps_the_step_and_reports_the_unclipped_speed(tiny):
    ws, e = tiny
    free = step(ws, e, METHODS["ngd"], eta=0.01)
    assert not free.clipped and free.step_norm == pytest.approx(0.01 * free.speed)
    capped = step(ws, e, METHODS["ngd"], eta=0.01, cap=0.1 * free.step_norm)
    assert capped.clipped and capped.speed == pytest.approx(free.speed)
    moved = math.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(capped.layers, ws, strict=True)))
    assert moved == pytest.approx(0.1 * free.step_norm, rel=1e-12)


# --------------------------------------------------------------------------- modes and theory


def _small_problem():
    prob = tiny_spec(Problem, n_dim=5, depth=3, n_samples=5, teacher_singular_values=(2.0, 1.0))
    _, sigma_hat, u, s, v = make_problem(prob, seed=0)
    return prob, sigma_hat, u, s, v


@pytest.mark.parametrize("name", list(METHODS))
def test_aligned_matrix_network_equals_the_per_mode_scalar_system(name):
    prob, _, u, s, v = _small_problem()
    sigma0 = aligned_init(prob, 0.3, seed=0)
    rng = np.random.default_rng(0)
    bases = [v] + [np.linalg.qr(rng.standard_normal((5, 5)))[0] for _ in range(2)] + [u]
    clip = 0.1 if name in ("ngd", "ngd_d") else None
    dev, off = _matrix_check(sigma0, s, u, v, bases, METHODS[name], 0.01, clip, 40)
    assert dev <= 1e-9 and off <= 1e-9
    # The aligned layers do build the map U diag(Π σ) Vᵀ.
    w = dl.product(aligned_layers(sigma0, bases))
    assert np.allclose(w, (u * np.prod(sigma0, axis=0)) @ v.T, atol=1e-14)


def test_ngd_and_ngd_d_flows_have_closed_forms_at_eps_zero():
    """Any (unbalanced) init: ds/dt = ŝ − s for NGD and d(ŝ − s) for NGD-d when ε = 0."""
    sigma0 = np.array([[0.1, 0.3], [0.2, 0.15], [0.12, 0.4]])
    target = np.array([2.0, 0.7])
    t = np.linspace(0, 5, 51)
    s0 = np.prod(sigma0, axis=0)
    for structure, rate in (("full", 1.0), ("block", 3.0)):
        flow = huh.integrate_modes(sigma0, target, 1.0, structure, 0.0, t)
        closed = huh.exponential_map(t, s0, target, rate)
        assert np.abs(np.prod(flow, axis=1) - closed).max() < 1e-8
        balanced = huh.integrate_balanced(s0, target, 1.0, structure, 3, t)
        assert np.abs(balanced - closed).max() < 1e-8


def test_euler_contraction_near_the_target_is_one_minus_c_eta():
    target = np.array([1.5])
    for structure, c in (("full", 1.0), ("block", 4.0)):
        sigma = np.full((4, 1), 1.5**0.25) * (1 + 1e-7)  # balanced, error ~ 6e-7
        e0 = np.prod(sigma) - target[0]
        _, after = huh.euler_modes(sigma, target, 1.0, structure, 0.0, 0.01, 1)
        ratio = (np.prod(after[-1]) - target[0]) / e0
        assert ratio == pytest.approx(1 - c * 0.01, abs=1e-6)
        assert huh.euler_rate(c, 0.01) == pytest.approx(-math.log(1 - c * 0.01) / 0.01)


def test_balanced_map_rate_is_the_mode_velocity_at_balance():
    s = np.array([1e-3, 0.2, 1.7])
    target = np.array([1.0, 0.5, 2.0])
    sigma = np.tile(s ** (1 / 4), (4, 1))
    for structure in ("full", "block"):
        for alpha, eps in ((0.0, 0.0), (0.3, 1e-4), (0.5, 0.0), (1.0, 1e-5)):
            v = huh.mode_velocity(sigma, target, alpha, structure, eps)
            ds = -np.sum(huh.others_product(sigma) * v, axis=0)
            rate = huh.balanced_map_rate(s, target, alpha, structure, 4, eps)
            assert np.allclose(ds, rate, rtol=1e-12, atol=0)


def test_conservation_laws_are_exact_at_eps_zero():
    rng = np.random.default_rng(5)
    sigma0 = 0.1 * np.exp(0.3 * rng.standard_normal((4, 3)))
    target = np.array([3.0, 2.0, 1.0])
    # Euler: NGD-d keeps ratios, sqrt-NGD-d differences (docs/papers/huh2020.md, Corrections 4).
    _, ratios = huh.euler_modes(sigma0, target, 1.0, "block", 0.0, 0.01, 300, None, range(301))
    r = ratios[:, 1:] / ratios[:, :1]
    assert np.abs(r - r[0]).max() < 1e-12
    _, diffs = huh.euler_modes(sigma0, target, 0.5, "block", 0.0, 0.01, 300, None, range(301))
    d = diffs[:, 1:] - diffs[:, :1]
    assert np.abs(d - d[0]).max() < 1e-12
    # Flow: every full rule (any α, any ε) keeps σ_i² − σ_j², hence the same path per mode.
    t = np.linspace(0, 20, 41)
    for alpha, eps in ((0.0, 0.0), (0.5, 1e-10), (1.0, 1e-5), (0.7, 1e-3)):
        flow = huh.integrate_modes(sigma0, target, alpha, "full", eps, t)
        q = flow[:, 1:] ** 2 - flow[:, :1] ** 2
        assert np.abs(q - q[0]).max() < 1e-10
    # Matrix Euler NGD-d at ε = 0 conserves log|det W_i| − log|det W_j| (non-aligned init).
    _, sigma_hat, *_ = _small_problem()
    drift, steps = logdet_law_check(sigma_hat, 3, 0.3, 0.01, 60, seed=0)
    assert steps > 5 and drift < 1e-10


def test_time_scales_of_gd_and_sqrt_ngd():
    sigma0, d = 0.05, 4
    target = np.array([0.5, 1.0, 2.0])
    t = np.linspace(0, 2.5 * huh.gd_escape_time(0.5, sigma0, d), 60001)
    gd = huh.integrate_balanced(sigma0**d, target, 0.0, "full", d, t)
    for k, tg in enumerate(target):
        ratio = huh.t_half(t, gd[:, k], tg) / huh.gd_escape_time(tg, sigma0, d)
        assert ratio == pytest.approx(1.0, abs=0.02)
    t = np.linspace(0, 30, 30001)
    grid = np.array([0.25, 1.0, 4.0])
    sq = huh.integrate_balanced(1e-12, grid, 0.5, "full", d, t)
    halves = [huh.t_half(t, sq[:, k], g) for k, g in enumerate(grid)]
    assert np.polyfit(np.log(grid), np.log(halves), 1)[0] == pytest.approx(-0.75, abs=0.01)


def test_speed_bound_is_the_supremum():
    x = np.geomspace(1e-8, 1e3, 200001)
    for alpha, eps in ((1.0, 1e-5), (0.75, 1e-4), (0.5, 1e-10)):
        assert (x * (x * x + eps) ** (-alpha)).max() <= huh.speed_bound(alpha, eps) * (1 + 1e-9)
        assert (x * (x * x + eps) ** (-alpha)).max() >= huh.speed_bound(alpha, eps) * (1 - 1e-3)


# --------------------------------------------------------------------------- experiments

TINY = dict(
    n_dim=6,
    depth=3,
    n_samples=6,
    teacher_singular_values=(2.0, 1.0),
    noise_std=0.3,
    log_points=60,
)
TINY_RUNS = {
    **HUH_TOY_RUNS,
    "ngd_d_unclipped": dict(structure="block", alpha=1.0, eps=1e-5, clip=None, horizon=3.0),
    "ngd_d_undamped": dict(structure="block", alpha=1.0, eps=0.0, clip=0.1, horizon=2.0),
}


@pytest.fixture(scope="module")
def tiny_tables():
    train = pd.concat(
        [
            run_train(tiny_spec(TrainSpec, run=name, seeds=(0, 1), **TINY, **m))
            for name, m in TINY_RUNS.items()
        ],
        ignore_index=True,
    )
    methods = {k: v for k, v in TINY_RUNS.items() if k in METHODS}
    modes = run_modes(
        tiny_spec(
            ModesSpec,
            seeds=(0,),
            methods=methods,
            matrix_steps=20,
            log_points=80,
            **{k: v for k, v in TINY.items() if k != "log_points"},
        )
    )
    return train, modes


def test_train_table_conforms_and_its_quantities_are_consistent(tiny_tables):
    train, _ = tiny_tables
    HUH2020_TRAIN.conform(train, where="test")
    for (_run, _seed), g in train.groupby(["run", "seed"]):
        w = g.pivot_table(index="step", columns=["quantity", "index"], values="value")
        # Whitened inputs: (1/2P)‖Y − WX‖² = ½‖W − Σ̂‖² + (1/2P)‖Y − Σ̂X‖².
        excess = w[("train_loss", 0)] - w[("train_loss_floor", 0)].iloc[0]
        assert np.allclose(excess, 0.5 * w[("map_error", 0)] ** 2, rtol=1e-9, atol=1e-12)
        # The population test loss is the excess plus the noise floor Nσ_z²/2.
        floor = 0.5 * TINY["n_dim"] * TINY["noise_std"] ** 2
        assert np.allclose(w[("test_loss", 0)] - w[("test_excess", 0)], floor)
        for check in ("check_jacobian_fd", "check_gn_blocks", "check_jjt", "check_fast_route"):
            assert w[(check, 0)].dropna().iloc[0] < 1e-8


def test_speed_bounds_hold_in_the_runs(tiny_tables):
    train, _ = tiny_tables
    last = train[train["quantity"] == "speed_ratio_max"].groupby("run")["value"].max()
    assert last["sqrt_ngd"] <= 1 + 1e-9
    assert last["sqrt_ngd_d"] <= math.sqrt(3) + 1e-9
    assert last["ngd_unclipped"] <= huh.speed_bound(1.0, 1e-5) * (1 + 1e-9)
    clipped = train[(train["quantity"] == "step_norm") & (train["run"] == "ngd")]["value"]
    assert clipped.max() <= 0.1 * (1 + 1e-12)


def test_runs_are_deterministic_and_divergence_is_recorded():
    spec = tiny_spec(TrainSpec, run="gd", horizon=0.5, **TINY)
    pd.testing.assert_frame_equal(run_train(spec), run_train(spec))
    blown = run_train(
        tiny_spec(TrainSpec, run="gd", eta=50.0, horizon=2000.0, checks=False, **TINY)
    )
    assert blown["diverged"].all()
    assert blown["step"].max() < 40
    HUH2020_TRAIN.conform(blown, where="test")


def test_modes_table_conforms_and_paths_agree_per_mode(tiny_tables):
    _, modes = tiny_tables
    HUH2020_MODES.conform(modes, where="test")
    flow = modes[(modes["variant"] == "flow") & (modes["quantity"] == "layer_value")]
    wide = flow.pivot_table(index=["mode", "step", "layer"], columns="method", values="value")
    rel = (wide.sub(wide["gd"], axis=0)).abs().div(wide["gd"], axis=0).max()
    assert rel["ngd"] < 1e-8 and rel["sqrt_ngd"] < 1e-8
    assert rel["ngd_d"] > 0.05


def _frame(train, modes, scale="ci"):
    tables = {}
    if train is not None:
        tables["huh2020.train"] = train
    if modes is not None:
        tables["huh2020.modes"] = modes
    frame = evaluate("huh2020", tables, scale)
    CLAIMS_TABLE.conform(frame, where="claims")
    assert list(frame["claim_id"]) == [spec.id for spec in CLAIMS]
    return frame.set_index("claim_id")


def test_claims_conform_and_exact_ones_pass(tiny_tables):
    train, modes = tiny_tables
    by_id = _frame(train, modes)
    for cid in (
        "identity_jacobian_fd",
        "identity_kronecker",
        "fast_route",
        "modes_decouple",
        "exact_invariants",
        "same_path_per_mode_flow",
        "same_path_per_mode_euler_order",
        "sqrt_speed_bounded",
        "ngd_speed_bound",
        "closed_form_ngd",
    ):
        assert by_id.loc[cid, "verdict"] == "REPRODUCED", by_id.loc[cid].to_dict()
    assert not by_id.loc["joint_paths_differ", "agrees_with_paper"]
    assert by_id.loc["joint_paths_differ", "target"] == "paper_contradicted"
    # The tiny run has no GD at η/4: NOT RUN, naming the config key that switches it on.
    row = by_id.loc["balance_drift_order_eta"]
    assert row["verdict"] == "NOT RUN"
    assert "huh2020.controls.gd_eta_quarter.enabled" in row["description"]


def test_a_broken_identity_is_a_discrepancy(tiny_tables):
    train, modes = tiny_tables
    broken = train.copy()
    broken.loc[broken["quantity"] == "check_gn_blocks", "value"] = 1e-6
    row = _frame(broken, modes).loc["identity_kronecker"]
    assert row["outcome"] == "fail" and row["verdict"] == "DISCREPANCY"  # set a priori


def test_disabled_studies_give_not_run_rows_with_their_reason(tiny_tables):
    train, modes = tiny_tables
    # No tables at all: every declared id, all NOT RUN.
    assert (_frame(None, None)["verdict"] == "NOT RUN").all()
    # The aligned study switched off (huh2020.modes.enabled: false): its claims only.
    by_id = _frame(train, None)
    for cid in MODES_IDS:
        assert by_id.loc[cid, "verdict"] == "NOT RUN"
        assert "huh2020.modes.enabled" in by_id.loc[cid, "description"]
    assert by_id.loc["rate_ngd", "verdict"] != "NOT RUN"
    # The controls switched off: the claims that need them, with the config key.
    no_controls = train[~train["run"].isin(CONTROLS)]
    by_id = _frame(no_controls, modes)
    for cid in (
        "speed_spike",
        "ngd_speed_bound",
        "unclipped_no_divergence",
        "ngd_d_undamped_stalls",
    ):
        assert by_id.loc[cid, "verdict"] == "NOT RUN"
        assert "huh2020.controls." in by_id.loc[cid, "description"]
    # The identity checks off.
    no_checks = train[~train["quantity"].str.startswith("check_")]
    row = _frame(no_checks, modes).loc["identity_jacobian_fd"]
    assert row["verdict"] == "NOT RUN" and "huh2020.identity_checks" in row["description"]
    # A modes table from before the every-step Euler statistic: NOT RUN, asking for a rerun.
    old = modes[~modes["quantity"].isin(["euler_path_error", "euler_step_factor"])]
    row = _frame(train, old).loc["same_path_per_mode_euler"]
    assert row["verdict"] == "NOT RUN" and "rerun" in row["description"]


def test_a_diverged_main_run_makes_its_rows_inconclusive_not_failed(tiny_tables):
    train, modes = tiny_tables
    blown = train.copy()
    blown.loc[(blown["run"] == "sqrt_ngd") & (blown["seed"] == 1), "diverged"] = True
    by_id = _frame(blown, modes)
    for cid in ("faster_training", "rate_ngd", "balance_kept", "generalization_sqrt"):
        row = by_id.loc[cid]
        assert row["verdict"] == "INCONCLUSIVE", (cid, row.to_dict())
        assert "sqrt-NGD seed 1" in row["preconditions"] and not row["preconditions_met"]
    assert by_id.loc["modes_decouple", "verdict"] == "REPRODUCED"  # the aligned study is apart


def test_every_bound_belongs_to_a_declared_claim():
    declared = {spec.id for spec in CLAIMS}
    assert set(ms.BOUNDS) <= declared
    # The settings-dependent bounds are centred on the theory's values.
    assert ms.rate_bound(4.0, 0.01).center == pytest.approx(-math.log(1 - 0.04) / 0.01)
    assert ms.rate_ratio_bound(4).center == 4.0
    assert ms.sqrt_escape_bound(4).center == -0.75


# --------------------------------------------------------------------------- Euler path error


def test_path_difference_against_a_known_gap():
    """Two paths with the same map values whose layers differ by a known factor: the gap is
    that factor; a path compared with itself has none."""
    rng = np.random.default_rng(7)
    t = np.linspace(0, 1, 200)
    base = np.exp(np.stack([np.outer(1 + t, rng.uniform(0.5, 1.5, 2)) for _ in range(3)], 1))
    assert huh.path_difference(base, base) == 0.0
    delta = 0.013
    shifted = base.copy()
    shifted[:, 0, :] *= 1 + delta  # layer 1 up, layer 2 down: the map value is unchanged
    shifted[:, 1, :] /= 1 + delta
    assert huh.path_difference(base, shifted[::3]) == pytest.approx(delta, rel=1e-9)


def test_full_rules_share_the_flow_path_and_euler_converges_at_first_order():
    """The a-priori argument behind same_path_per_mode_euler: the flows of GD and NGD from the
    same unbalanced init lie on one path per mode; Euler paths differ from it by O(step), with
    η and the cap halved together."""
    prob, _, _, s_hat, _ = _small_problem()
    sigma0 = aligned_init(prob, 0.3, seed=1)[:, :2]
    target = s_hat[:2]
    levels = np.linspace(0.05, 0.95, 40)[:, None] * target[None, :] + 0.01
    _, gd = huh.modes_at_map_values(sigma0, target, 0.0, "full", 0.0, 4000.0, levels)
    _, ngd = huh.modes_at_map_values(sigma0, target, 1.0, "full", 1e-5, 40.0, levels)
    ok = np.isfinite(gd).all(axis=(1, 2)) & np.isfinite(ngd).all(axis=(1, 2))
    assert ok.sum() > 20
    assert huh.path_difference(gd[ok], ngd[ok]) < 1e-6
    errors = []
    for f in (1.0, 0.5, 0.25):
        eta, cap = 0.02 * f, 0.05 * f
        g = huh.euler_modes(sigma0, target, 0.0, "full", 0.0, eta, int(200 / eta), None,
                            np.arange(int(200 / eta) + 1))[1]  # fmt: skip
        n = huh.euler_modes(sigma0, target, 1.0, "full", 1e-5, eta, int(8 / eta), cap,
                            np.arange(int(8 / eta) + 1))[1]  # fmt: skip
        errors.append(huh.path_difference(g, n))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[0] > 1e-4  # a real discretization error to measure
    assert (orders > 0.75).all(), (errors, orders)


def test_the_modes_study_records_the_euler_path_error_at_each_step_factor(tiny_tables):
    _, modes = tiny_tables
    errors = ms.euler_path_errors(modes)
    assert set(errors["factor"]) == {1.0, 0.5}
    assert set(errors["method"]) == {"ngd", "sqrt_ngd"}  # the full rules other than GD
    order = ms.euler_order(errors)
    assert (order > 0.75).all(), order


# --------------------------------------------------------------------------- planning


def config(*overlays):
    base = load_config([ROOT / "config.yaml"], SCHEMA)
    for overlay in overlays:
        base = merge(base, overlay)
    return validate_config(base, SCHEMA)


def test_every_planned_job_has_a_valid_spec():
    """Every job's spec builds, solves the configured problem on configured seeds, and its path
    names the run; the aligned study runs every enabled method."""
    for preset in ("ci", "paper"):
        cfg = load_config([ROOT / "config.yaml", ROOT / "presets" / f"{preset}.yaml"], SCHEMA)
        huh = cfg["huh2020"]
        jobs = [j for j in registry.all_jobs(cfg).values() if j.task.startswith("huh2020")]
        assert {j.task for j in jobs} == {"huh2020-train", "huh2020-modes"}
        for job in jobs:
            cls = TrainSpec if job.task == "huh2020-train" else ModesSpec
            spec = cls(**job.spec)
            assert spec.problem == Problem(**huh["problem"])
            assert set(spec.seeds) <= set(huh["seeds"])
            assert job.path.endswith(f"seeds~{plugin.seeds_text(list(spec.seeds))}.parquet")
            if job.task == "huh2020-train":
                assert f"/{spec.run}/eta~{plugin.num(spec.eta)}/" in job.path
                assert spec.steps == round(spec.horizon / spec.eta) >= 1
            else:
                enabled = {m for m, run in huh["methods"].items() if run["enabled"]}
                assert set(spec.methods) == enabled


def test_default_plan_batches_cheap_runs_and_covers_every_seed():
    jobs = [j for j in registry.all_jobs(config()).values() if j.task == "huh2020-train"]
    seeds = {}
    for job in jobs:
        seeds.setdefault(job.spec["run"], []).extend(job.spec["seeds"])
    assert all(sorted(v) == [0, 1, 2, 3, 4] for v in seeds.values())
    per_run = pd.Series([j.spec["run"] for j in jobs]).value_counts()
    assert per_run["sqrt_ngd"] == 5 and per_run["gd"] == 1
    eta = {j.spec["run"]: j.spec["eta"] for j in jobs}
    assert eta["gd_eta_quarter"] == pytest.approx(eta["gd"] / 4)


def test_adding_a_seed_plans_only_new_or_rebatched_jobs():
    before = registry.all_jobs(config())
    after = registry.all_jobs(config({"huh2020": {"seeds": [0, 1, 2, 3, 4, 5]}}))
    new = {p for p in set(after) - set(before) if "/huh2020/" in p}
    sqrt = [p for p in new if "/sqrt_ngd/" in p]
    assert sqrt == ["results/huh2020/sqrt_ngd/eta~0.01/horizon~40.0/seeds~5.parquet"]
    assert all(after[p].spec == before[p].spec for p in before if p in after)
