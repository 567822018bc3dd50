"""Ghorbani, Krishnan & Xiao (2019): planning, training/checkpoints, checkpoint → curvature
determinism, SLQ vs explicit Hessians, the measures and the claims (docs/papers/ghorbani2019.md)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from specutil import tiny_spec

from curvlab.claims import Target, claims_frame
from curvlab.claims import ghorbani2019 as claims
from curvlab.config import ConfigError, validate_config
from curvlab.experiments import ghorbani2019 as exp
from curvlab.measures import ghorbani2019 as measures
from curvlab.papers import ghorbani2019 as plugin

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread (two threads on shared cores made Hessian-vector products 20–65×
    slower in the measurements behind docs/papers/ghorbani2019.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(**section):
    return validate_config({"papers": ["ghorbani2019"], "ghorbani2019": section}, SCHEMA)


# --------------------------------------------------------------------------- planning


def test_default_plan_one_training_and_one_curvature_job_per_checkpoint():
    config = _config()
    g = config["ghorbani2019"]
    runs = len(g["models"]) * len(g["bn_modes"]) * len(g["seeds"])
    jobs = plugin.jobs(config)
    by_task = pd.Series([j.task for j in jobs]).value_counts()
    assert by_task["ghorbani2019-train"] == runs
    assert by_task["ghorbani2019-curvature"] == runs * len(g["train"]["checkpoints"])
    assert by_task["ghorbani2019-validation"] == 1
    assert len({j.path for j in jobs}) == len(jobs)
    train = plugin.train_jobs(config)[0]
    # hyperparameters are in the path; the checkpoint directory mirrors it
    assert "eta~0.05/steps~1500/drops~1000x0.1/seed~0" in train.path
    assert train.spec["checkpoint_dir"].startswith("results/ghorbani2019/checkpoints/")
    curv = plugin.curvature_jobs(config)
    assert {tuple(j.spec["steps"]) for j in curv} == {(s,) for s in g["train"]["checkpoints"]}
    no_bn = [j for j in curv if j.spec["bn"] == "none"][0]
    assert no_bn.spec["hessian_modes"] == ["none"]
    pop = [j for j in curv if j.spec["bn"] == "population"][0]
    assert pop.spec["hessian_modes"] == ["frozen"]


def test_checkpoint_grouping_and_wildcards_round_trip():
    config = _config(
        train={"steps": 300, "checkpoints": [0, 50, 300, 400]},
        curvature={"checkpoints_per_job": None},
    )
    curv = plugin.curvature_jobs(config)
    assert {tuple(j.spec["steps"]) for j in curv} == {(0, 50, 300)}  # 400 > steps dropped
    job = curv[0]
    keys = dict(
        dataset="cifar10", n=500, arch=job.spec["arch"], bn=job.spec["bn"], eta="0.05",
        steps=300, drops="1000x0.1", seed=0, ckpts="0-50-300",
    )  # fmt: skip
    assert plugin.CURVATURE_RUN.format(**keys) == job.path
    # the workflow's checkpoint_dir input function: the run's keys without the checkpoints
    run = {k: v for k, v in keys.items() if k != "ckpts"}
    assert plugin.CHECKPOINT_DIR.format(**run) == job.spec["checkpoint_dir"]


def test_config_rejects_imagenet_and_bad_architectures():
    with pytest.raises(ConfigError, match="ImageNet is out of scope"):
        _config(dataset="imagenet")
    with pytest.raises(ConfigError, match="ghorbani2019.models"):
        _config(models=["inception-v3"])


# --------------------------------------------------------------------------- training, curvature


def _synthetic(n, root, subset_seed, image_size):
    """Linearly separable-ish 3-class data, 1 × 8 × 8 (no files needed)."""
    rng = np.random.default_rng(7)
    y = np.arange(n) % 3
    means = rng.normal(size=(3, 1, 8, 8))
    x = means[y] + 0.8 * rng.normal(size=(n, 1, 8, 8))
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture()
def synthetic(monkeypatch):
    monkeypatch.setattr(exp, "load_subset", lambda d, r, n, s, i: _synthetic(n, r, s, i))


def _train(tmp_path, arch, bn, steps=30, checkpoints=(0, 10, 30)):
    spec = tiny_spec(
        exp.TrainSpec, n_samples=60, arch=arch, bn=bn, eta=0.05, steps=steps, drops=[20],
        checkpoints=list(checkpoints), checkpoint_dir=str(tmp_path / f"{arch}-{bn}"), batch=20,
        eval_every=5,
    )  # fmt: skip
    return spec, exp.run_train(spec)


def _curvature(spec, modes, steps=(0, 10, 30), **kw):
    return exp.run_curvature(
        tiny_spec(
            exp.CurvatureSpec,
            n_samples=60,
            arch=spec.arch,
            bn=spec.bn,
            eta=spec.eta,
            seed=spec.seed,
            checkpoint_dir=spec.checkpoint_dir,
            steps=list(steps),
            hessian_modes=modes,
            batch=20,
            hessian_batch=60,
            draws=2,
            top_eigs=4,
            ks=[1, 4],
            cache=False,
            **{"lanczos_steps": 30, **kw},
        )  # fmt: skip
    )


def test_training_writes_checkpoints_and_drops_the_learning_rate(tmp_path, synthetic):
    spec, frame = _train(tmp_path, "mlp-8", "population")
    files = sorted(p.name for p in Path(spec.checkpoint_dir).iterdir())
    assert files == ["step~0.pt", "step~10.pt", "step~30.pt"]
    lr = frame[frame.quantity == "lr"].set_index("step")["value"]
    assert lr[19] == pytest.approx(0.05) and lr[20] == pytest.approx(0.005)
    loss = frame[frame.quantity == "full_loss"].set_index("step")["value"]
    assert loss[30] < loss[0]
    assert not frame["diverged"].any()
    ckpt = exp.load_checkpoint(exp.checkpoint_path(spec.checkpoint_dir, 30))
    assert ckpt["bn"] == "population" and "features.1.running_mean" in ckpt["state_dict"]


TIMINGS = {"setup_s", "hvp_s", "slq_s", "topk_s"}


@pytest.mark.parametrize(
    ("arch", "bn", "modes"),
    [("vgg-2-M-4", "batch", ["batch", "frozen", "full"]), ("mlp-8", "none", ["none"])],
)
def test_curvature_is_deterministic_given_the_checkpoint(tmp_path, synthetic, arch, bn, modes):
    spec, _ = _train(tmp_path, arch, bn)
    first = _curvature(spec, modes)
    second = _curvature(spec, modes)
    a = first[~first.quantity.isin(TIMINGS)].reset_index(drop=True)
    b = second[~second.quantity.isin(TIMINGS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert set(a.hessian_mode) == set(modes)
    # Ritz pairs are accurate: residuals small relative to λ1; ρ_K is a fraction, monotone in K
    for mode in modes:
        m = a[a.hessian_mode == mode]
        for step in (0, 10, 30):
            s = m[m.step == step]
            eig = s[s.quantity == "eig"].sort_values("index")["value"].to_numpy()
            res = s[s.quantity == "residual"]["value"].to_numpy()
            assert res[0] < 1e-6 * abs(eig[0])
            rho = s[s.quantity == "rho"].set_index("index")["value"]
            assert 0 <= rho[1] <= rho[4] <= 1 + 1e-12
            w = s[(s.quantity == "weight")].groupby("draw")["value"].sum()
            np.testing.assert_allclose(w.to_numpy(), 1.0, rtol=1e-10)


def test_curvature_matches_an_explicit_hessian_in_each_bn_mode(tmp_path, synthetic):
    """λ1 and ρ_1 of each mode against torch.autograd.functional.hessian of the same loss."""
    from torch.func import functional_call

    from curvlab.models.resnet import filter_normalize, set_population_statistics

    spec, _ = _train(tmp_path, "mlp-6", "batch", steps=10, checkpoints=(10,))
    frame = _curvature(spec, ["batch", "frozen", "full"], steps=(10,), lanczos_steps=40)
    x_np, y_np = _synthetic(60, None, 0, None)
    x, y = torch.as_tensor(x_np, dtype=torch.float64), torch.as_tensor(y_np)
    model = exp.make_model("mlp-6", "batch", x_np, 0)
    model.load_state_dict(exp.load_checkpoint(f"{spec.checkpoint_dir}/step~10.pt")["state_dict"])
    model = model.double()
    filter_normalize(model)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def unflat(v):
        out, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            out[n] = v[i : i + s.numel()].reshape(s)
            i += s.numel()
        return out

    def loss(v, mode):
        params = unflat(v)
        if mode == "batch":
            model.train()
            parts = [(x[i : i + 20], y[i : i + 20]) for i in range(0, 60, 20)]
            return sum(
                exp.cross_entropy(functional_call(model, params, (xb,)), yb) for xb, yb in parts
            ) / len(parts)
        model.train(mode == "full")
        return exp.cross_entropy(functional_call(model, params, (x,)), y)

    for mode in ("batch", "frozen", "full"):
        if mode == "frozen":
            set_population_statistics(model, x)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.track_running_stats = mode == "frozen"
        hess = torch.autograd.functional.hessian(lambda v, mode=mode: loss(v, mode), flat0)
        grad = torch.func.grad(lambda v, mode=mode: loss(v, mode))(flat0)
        evals, evecs = torch.linalg.eigh((hess + hess.T) / 2)
        rho1 = float((evecs[:, -1] @ grad) ** 2 / grad.pow(2).sum())
        f = frame[frame.hessian_mode == mode]
        lam1 = float(f[(f.quantity == "eig") & (f["index"] == 0)]["value"].iloc[0])
        assert lam1 == pytest.approx(float(evals[-1]), rel=1e-8), mode
        got = float(f[(f.quantity == "rho") & (f["index"] == 1)]["value"].iloc[0])
        assert got == pytest.approx(rho1, rel=1e-6, abs=1e-10), mode


def test_diverged_checkpoint_gives_an_empty_marked_measurement(tmp_path, synthetic):
    spec = tiny_spec(
        exp.TrainSpec, n_samples=60, arch="mlp-8", bn="none", eta=1e6, steps=10, drops=[],
        checkpoints=[0, 10], checkpoint_dir=str(tmp_path / "d"), batch=20,
    )  # fmt: skip
    frame = exp.run_train(spec)
    assert frame["diverged"].all()
    curv = _curvature(spec, ["none"], steps=(10,))
    assert curv["diverged"].all() and len(curv) == 1 and math.isnan(curv["value"].iloc[0])


# --------------------------------------------------------------------------- SLQ validation


def test_density_l1_is_zero_for_the_exact_quadrature_and_two_for_disjoint_spectra():
    ev = np.linspace(-1.0, 3.0, 40)
    w = np.full(40, 1 / 40)
    assert exp.density_l1(ev, [ev], [w], 1e-5, 20_000) == pytest.approx(0.0, abs=1e-9)
    far = exp.density_l1(ev, [ev + 100.0], [w], 1e-5, 200_000)
    assert far == pytest.approx(2.0, abs=1e-3)


def test_validation_ritz_values_match_the_explicit_hessian(synthetic):
    spec = tiny_spec(
        exp.ValidationSpec,
        n_samples=90,
        hidden=[6],
        train_steps=40,
        batch=30,
        lanczos_steps=60,
        draws=3,
        grid_points=4000,
    )
    frame = exp.run_validation(spec)
    ritz = frame[frame.quantity == "ritz_err"]["value"]
    assert (ritz < 1e-10).all()
    assert (frame[frame.quantity == "topk_err"]["value"] < 1e-8).all()
    # m = 60 ≥ P/… here: the quadrature is nearly exact, L1 small at σ² = 1e-3
    l1 = frame[(frame.quantity == "l1") & np.isclose(frame.sigma2, 1e-3)]["value"]
    assert (l1 < 0.1).all()


# --------------------------------------------------------------------------- measures


def _curv_rows(
    eigs, nodes, weights, rho10, *, arch="mlp-8", bn="none", mode="none", step=50, seed=0,
    loss=1.0,
):  # fmt: skip
    nodes = nodes if isinstance(nodes, list) else [nodes]
    weights = weights if isinstance(weights, list) else [weights]
    rows = [("eig", -1, i, v) for i, v in enumerate(eigs)]
    for d, (n, w) in enumerate(zip(nodes, weights, strict=True)):
        rows += [("node", d, j, v) for j, v in enumerate(n)]
        rows += [("weight", d, j, v) for j, v in enumerate(w)]
    rows += [("rho", -1, 10, rho10), ("loss", -1, 0, loss)]
    frame = pd.DataFrame(rows, columns=["quantity", "draw", "index", "value"])
    frame["arch"], frame["bn"], frame["seed"], frame["step"] = arch, bn, seed, step
    frame["hessian_mode"], frame["diverged"] = mode, False
    return frame


def test_spectrum_statistics_on_a_known_spectrum():
    eigs = [50.0, 40, 30, 20, 10, 9, 8.5, 8, 7.5, 7, 5.0, 4.5, 4]  # λ4/λ5 = 2: 4 outliers
    nodes = np.array([-2.0, -0.1, 0.5, 1.0, 50.0])
    weights = np.array([0.1, 0.2, 0.3, 0.3, 0.1])
    st = measures.spectrum_stats(_curv_rows(eigs, nodes, weights, 0.8)).iloc[0]
    assert st["ratio11"] == pytest.approx(10.0)  # λ1/λ11
    assert st["outliers"] == 4
    assert st["rho10"] == pytest.approx(0.8)
    neg = 0.1 * 2 + 0.2 * 0.1
    assert st["neg_fraction"] == pytest.approx(neg / (neg + 0.3 * 0.5 + 0.3 + 0.1 * 50))
    assert math.isnan(st["neg_fraction_se"])  # one draw: no standard error
    assert st["mass_below"] == pytest.approx(0.1)  # below −0.01·λ1 = −0.5
    assert st["min_ratio"] == pytest.approx(2.0 / 50)


def test_quadrature_negative_fraction_is_exact_for_the_exact_quadrature():
    """With every eigenvalue as a node of weight 1/P (the exact spectral measure) the SLQ
    statistic equals the exact one; its standard error is the spread of the per-draw values."""
    ev = np.random.default_rng(1).normal(0.5, 1.0, 200)
    exact = measures.exact_negative_fraction(ev)
    assert exact == pytest.approx(np.abs(ev[ev < 0]).sum() / np.abs(ev).sum())
    w = np.full(200, 1 / 200)
    value, se = measures.quadrature_negative_fraction([ev, ev], [w, w])
    assert value == pytest.approx(exact) and se == pytest.approx(0.0, abs=1e-15)
    # two halves of the spectrum as two "draws": pooled value and SE from the two fractions
    a, b = ev[:100], ev[100:]
    value, se = measures.quadrature_negative_fraction([a, b], [w[:100] * 2, w[:100] * 2])
    fa, fb = measures.exact_negative_fraction(a), measures.exact_negative_fraction(b)
    assert value == pytest.approx(exact)
    assert se == pytest.approx(np.std([fa, fb], ddof=1) / math.sqrt(2))


def test_progress_window_follows_the_loss_not_the_step():
    """A run is in its window while L(0)/100 ≤ L(t) ≤ L(0)/2, whatever the step."""
    big = [20.0] + [2.0] * 12
    one = (np.array([1.0]), np.array([1.0]))
    fast = [_curv_rows(big, *one, 0.9, step=s, loss=lo) for s, lo in ((0, 2.0), (50, 0.5), (300, 0.001))]  # fmt: skip
    slow = [
        _curv_rows(big, *one, 0.9, arch="vgg-2-M", step=s, loss=lo)
        for s, lo in ((0, 2.0), (50, 1.9), (300, 0.4))
    ]
    prog = measures.with_progress(measures.spectrum_stats(pd.concat(fast + slow)))
    assert measures.window_steps(prog, "mlp-8", "none") == {0: [50]}
    assert measures.window_steps(prog, "vgg-2-M", "none") == {0: [300]}
    assert measures.family("mlp-8") == "mlp" and measures.family("resnet8-w8") == "conv"


# --------------------------------------------------------------------------- claims


def _rows(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {r.claim_id: r for _, r in frame.iterrows()}


def _evaluate(tables, scale="ci"):
    from curvlab.claims import evaluate

    return _rows(evaluate("ghorbani2019", tables, scale))


BIG = [20.0] + [2.0] * 12  # λ1/λ11 = 10, count: gap after λ1 (argmax from i = 2 → 2)
FLAT = [2.0] + [1.5] * 12  # λ1/λ11 = 1.33
NEG0 = (np.array([-5.0, 0.0, 10.0]), np.array([0.3, 0.4, 0.3]))
NEG1 = (np.array([-0.01, 0.0, 10.0]), np.array([0.1, 0.6, 0.3]))


def _mlp_tables(pop_flat=True):
    """An MLP whose no-BN run has outliers and concentration, BN suppresses both, the frozen
    Hessian of the BN weights has them back; the population-BN run is flat (fails)."""
    parts = []
    for step, loss in ((0, 2.4), (50, 0.2)):
        neg = NEG0 if step == 0 else NEG1
        parts += [
            _curv_rows(BIG, *neg, 0.9, step=step, loss=loss),
            _curv_rows(FLAT, *NEG1, 0.2, bn="batch", mode="batch", step=step, loss=loss),
            _curv_rows(BIG, *NEG1, 0.5, bn="batch", mode="frozen", step=step, loss=loss),
            _curv_rows(
                FLAT if pop_flat else BIG, *NEG1, 0.2, bn="population", mode="frozen",
                step=step, loss=loss,
            ),
        ]  # fmt: skip
    return {"ghorbani2019.curvature": pd.concat(parts)}


def test_claims_pass_and_fail_on_the_measured_values():
    rows = _evaluate(_mlp_tables())
    assert rows["outliers_nobn"].verdict == "REPRODUCED" and rows["outliers_nobn"].measured == 10
    assert rows["rho_nobn"].verdict == "REPRODUCED"
    assert rows["bn_suppresses_ratio_mlp"].measured == pytest.approx((2 / 1.5) / 10)
    assert rows["bn_ratio_mlp"].verdict == "REPRODUCED"
    assert rows["bn_mode_mlp"].verdict == "CONTRADICTION CONFIRMED"
    assert rows["bn_mode_mlp"].measured == pytest.approx(7.5)
    assert rows["population_outliers_mlp"].verdict == "DISCREPANCY"  # calibrated at ci
    assert _evaluate(_mlp_tables(), "default")["population_outliers_mlp"].verdict == (
        "OUT OF CALIBRATION"
    )
    assert rows["neg_fraction"].verdict == "REPRODUCED" and rows["neg_mass"].passed
    # no conv net configured: the conv rows say so, and nothing else is missing
    for cid in ("bn_suppresses_ratio_conv", "bn_mode_conv", "population_slower_conv"):
        assert rows[cid].verdict == "NOT RUN" and "no conv net" in rows[cid].description
    # no validation table: its claims are NOT RUN, with the reason
    assert rows["slq_ritz"].verdict == "NOT RUN" and "validation" in rows["slq_ritz"].description
    assert rows["lr_drop"].verdict == "NOT RUN"


def test_conv_rows_are_judged_in_the_progress_window_not_at_step_50():
    """A conv net still on its plateau at step 50 (where BN looks like no BN and the frozen/
    batch ratio is 1): the conv rows use step 300, where both runs have left the plateau; the
    old step-50 statistic stays in the details."""
    vgg = dict(arch="vgg-2-M")
    parts = []
    for step, loss in ((0, 2.4), (50, 2.2), (300, 0.4)):
        late = step == 300
        parts += [
            _curv_rows(BIG, *NEG1, 0.9 if late else 0.2, **vgg, step=step, loss=loss),
            _curv_rows(
                FLAT if late else BIG, *NEG1, 0.2, **vgg, bn="batch", mode="batch", step=step,
                loss=loss,
            ),
            _curv_rows(BIG, *NEG1, 0.5, **vgg, bn="batch", mode="frozen", step=step, loss=loss),
            _curv_rows(
                BIG, *NEG1, 0.3, **vgg, bn="population", mode="frozen", step=step,
                loss=3 * loss if late else loss,
            ),
        ]  # fmt: skip
    rows = _evaluate({"ghorbani2019.curvature": pd.concat(parts)}, "default")
    assert rows["bn_suppresses_ratio_conv"].verdict == "REPRODUCED"
    assert rows["bn_suppresses_ratio_conv"].measured == pytest.approx((2 / 1.5) / 10)
    assert "old window 50–200: 1×" in rows["bn_suppresses_ratio_conv"].description
    assert rows["bn_mode_conv"].measured == pytest.approx(7.5)  # step 300, not step 50 (1.0)
    assert rows["bn_mode_conv"].verdict == "CONTRADICTION CONFIRMED"
    assert rows["population_slower_conv"].measured == pytest.approx(3.0)
    assert rows["rho_nobn"].measured == pytest.approx(0.9)  # step 300 only
    assert rows["outliers_nobn"].expected == "≥ 4"  # the default-scale bound
    for cid in ("bn_ratio_mlp", "bn_mode_mlp", "population_slower_mlp"):
        assert rows[cid].verdict == "NOT RUN" and "no MLP" in rows[cid].description


def test_a_run_without_a_checkpoint_in_its_progress_window_is_inconclusive():
    """The VGG is still on its plateau at every checkpoint: rho_nobn cannot be judged."""
    parts = [
        _curv_rows(BIG, *NEG0, 0.1, arch="vgg-2-M", step=0, loss=2.4),
        _curv_rows(BIG, *NEG1, 0.1, arch="vgg-2-M", step=50, loss=2.0),  # L > L(0)/2
    ]
    rows = _evaluate({"ghorbani2019.curvature": pd.concat(parts)})
    assert rows["rho_nobn"].verdict == "INCONCLUSIVE"
    assert "NOT met" in rows["rho_nobn"].preconditions
    assert "0.1" in rows["rho_nobn"].description  # the old window's value is still shown


def test_every_id_at_every_scale_and_nothing_without_tables():
    ids = [spec.id for spec in claims.CLAIMS]
    for scale in ("ci", "default", "offline", "paper"):
        assert list(_evaluate({}, scale)) == ids
        assert all(r.verdict == "NOT RUN" for r in _evaluate({}, scale).values())
    assert list(_evaluate(_mlp_tables())) == ids
    assert not [i for i in ids if re.search(r"\d|\[", i)]  # no model or seed in an id


def test_targets_follow_the_docs():
    t = {spec.id: spec.target for spec in claims.CLAIMS}
    assert t["slq_density_init"] is Target.PAPER_CONTRADICTED
    assert t["bn_mode_conv"] is Target.PAPER_CONTRADICTED
    assert t["rho_nobn"] is Target.PAPER
    frame = claims_frame(claims.CLAIMS.complete([]), "ci")
    assert (frame.verdict == "NOT RUN").all()


def _train_loss(bn: str, losses: list[float], steps: list[int], arch="mlp-8") -> pd.DataFrame:
    return pd.DataFrame(
        {"arch": arch, "bn": bn, "seed": 0, "step": steps, "quantity": "full_loss", "value": losses}
    )


@pytest.mark.parametrize(
    ("population", "measured", "verdict"),
    [
        ([1.0, 0.5, 0.05], 4.0, "REPRODUCED"),  # reached at step 400: 400/100
        ([1.0, 0.9, 0.5], 4.0, "REPRODUCED"),  # never reached: ≥ 400/100 decides
    ],
)
def test_population_slower_uses_the_censored_lower_bound(population, measured, verdict):
    steps = [0, 100, 400]
    train = pd.concat(
        [
            _train_loss("batch", [1.0, 0.05, 0.01], steps),
            _train_loss("population", population, steps),
        ]
    )
    tables = {**_mlp_tables(), "ghorbani2019.train": train}
    row = _evaluate(tables, "default")["population_slower_mlp"]
    assert row.measured == pytest.approx(measured) and row.verdict == verdict
    assert ("censored" in row.description) == (population[-1] > measures.LOSS_TARGET)
    # Censored below the bound: inconclusive, never a failure.
    short = {**tables, "ghorbani2019.train": train[train.step <= 100]}
    assert _evaluate(short, "default")["population_slower_mlp"].verdict == "INCONCLUSIVE"
    # BN never reaches the target: no reference time, inconclusive.
    slow = pd.concat([_train_loss("batch", [1.0, 0.5, 0.2], steps), train[train.bn != "batch"]])
    row = _evaluate({**tables, "ghorbani2019.train": slow}, "default")["population_slower_mlp"]
    assert row.verdict == "INCONCLUSIVE" and "BN did not reach" in row.description


def test_the_validation_claims_use_the_exact_spectrum(synthetic):
    """On a real (tiny) validation run: the Ritz values pass, the SLQ negative fraction agrees
    with the exact one within its standard error, the exact shrink ratio is computed."""
    spec = tiny_spec(
        exp.ValidationSpec, n_samples=90, hidden=[6], train_steps=40, batch=30, lanczos_steps=60,
        draws=3, grid_points=4000,
    )  # fmt: skip
    rows = _evaluate({"ghorbani2019.validation": exp.run_validation(spec)})
    assert rows["slq_ritz"].verdict == "REPRODUCED"
    assert rows["slq_negative_fraction"].verdict in {"REPRODUCED", "DISCREPANCY"}
    assert math.isfinite(rows["slq_negative_fraction"].measured)
    assert math.isfinite(rows["neg_fraction_exact"].measured)


def test_the_default_cifar_path_trains_and_measures_three_channel_images(tmp_path, monkeypatch):
    """The default scale's data path (CIFAR-10, 3 × 32 × 32 uint8, block-averaged to 16 × 16,
    a ResNet with augmentation) end to end on random images standing in for the archive
    (whose parsing tests/data/ covers): CIFAR-10 itself cannot be fetched in CI."""
    import curvlab.data

    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (100, 3, 32, 32), dtype=np.uint8),
        "y_train": np.arange(100, dtype=np.int64) % 10,
    }
    monkeypatch.setattr(curvlab.data, "load_dataset", lambda name, root, download: arrays)
    x, y = exp.load_subset("cifar10", "unused", 40, 0, 16)
    assert (
        x.shape == (40, 3, 16, 16) and x.dtype == np.float32 and np.bincount(y).tolist() == [4] * 10
    )
    spec = tiny_spec(
        exp.TrainSpec, dataset="cifar10", n_samples=40, arch="resnet8-w4", bn="population",
        eta=0.05, steps=6, drops=[4], checkpoints=[0, 6], checkpoint_dir=str(tmp_path / "resnet"),
        image_size=16, batch=20, eval_every=2, augment=["crop", "flip"],
    )  # fmt: skip
    frame = exp.run_train(spec)
    assert np.isfinite(frame["value"]).all()
    curv = exp.run_curvature(
        tiny_spec(
            exp.CurvatureSpec,
            dataset="cifar10",
            n_samples=40,
            arch=spec.arch,
            bn=spec.bn,
            eta=spec.eta,
            seed=spec.seed,
            checkpoint_dir=spec.checkpoint_dir,
            steps=[0, 6],
            hessian_modes=["frozen"],
            image_size=16,
            batch=20,
            hessian_batch=40,
            lanczos_steps=10,
            draws=1,
            top_eigs=3,
            ks=[1, 3],
            cache=False,
        )  # fmt: skip
    )
    assert set(curv["step"]) == {0, 6} and np.isfinite(curv["value"]).all()
