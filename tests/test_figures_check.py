"""Every figure of every paper, drawn from tiny tables made by the papers' own job functions,
passes the print checks of tests/figcheck.py (issue 19): at most 7 in wide and 3 panels per
row, 7–9 pt text, no raw TeX, no legend or text box over data. Every declared builder must
draw: a figure skipped on the tiny tables fails the test rather than passing it unchecked.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from figcheck import problems
from specutil import HUH_TOY_RUNS, tiny_spec

from curvlab import registry
from curvlab.experiments import du2018 as du
from curvlab.experiments import ghorbani2019 as gh
from curvlab.experiments import huh2020 as huh
from curvlab.experiments import jacot2020 as jac
from curvlab.experiments import mori2022 as mori
from curvlab.papers.ghorbani2019 import AFTER_DROP
from curvlab.papers.huh2020 import METHODS
from curvlab.plots import common


def _images(n: int, channels: int = 1, side: int = 7, classes: int = 10):
    """Class-dependent noisy images in place of a data set (no files needed)."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    means = rng.normal(size=(classes, channels, side, side))
    x = means[labels] + 0.8 * rng.normal(size=(n, channels, side, side))
    return x.astype(np.float32), labels.astype(np.int64)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- tiny tables


def du_tables() -> dict[str, pd.DataFrame]:
    net = [
        du.run_network(tiny_spec(du.NetworkSpec, init="balanced")),
        du.run_network(tiny_spec(du.NetworkSpec, init="unbalanced", init_sq_norms=(10, 1, 0.1))),
        # The drift study: the same gradient-flow time at two step sizes.
        *(
            du.run_network(tiny_spec(du.NetworkSpec, experiment="drift", eta=eta, steps=steps))
            for eta, steps in ((0.2, 100), (0.1, 200))
        ),
    ]
    mf = [
        du.run_factorization(tiny_spec(du.FactorizationSpec, study=study, init=init, eta0=eta0))
        for study, init, eta0 in (
            ("decaying", "small", 0.5),
            ("decaying", "unbalanced", 0.5),
            ("paper_schedule", "small", 0.01),
            ("constant", "unbalanced", 0.1),
        )
    ]
    rank1 = tiny_spec(
        du.FactorizationSpec, study="rank1", rank=1, exponent=0.0, steps=300, log_every=1
    )
    return {
        "du2018.network": _concat(net),
        "du2018.factorization": _concat([*mf, du.run_factorization(rank1)]),
    }


#: The paper's rules and the runs the speed and α-sweep figures add, at toy horizons.
HUH_RUNS = {
    **HUH_TOY_RUNS,
    "sweep_block_alpha0.75": dict(structure="block", alpha=0.75, eps=1e-10, clip=None, horizon=8.0),
}


def huh_tables() -> dict[str, pd.DataFrame]:
    train = [
        huh.run_train(tiny_spec(huh.TrainSpec, run=name, log_points=40, **run))
        for name, run in HUH_RUNS.items()
    ]
    methods = {k: v for k, v in HUH_RUNS.items() if k in METHODS}
    modes = huh.run_modes(tiny_spec(huh.ModesSpec, methods=methods, log_points=40))
    return {"huh2020.train": _concat(train), "huh2020.modes": modes}


def jacot_tables(tmp_path) -> dict[str, pd.DataFrame]:
    from curvlab.io import write_table
    from curvlab.papers.jacot2020 import JACOT2020_KERNELS

    frames: dict[str, list[pd.DataFrame]] = {"kernels": [], "init": [], "trial": []}
    surface = []
    for nl in ("softplus", "normalized_softplus"):
        kernels = jac.run_kernels(tiny_spec(jac.KernelsSpec, nonlinearity=nl))
        path = tmp_path / f"kernels-{nl}.parquet"
        write_table(kernels, path, JACOT2020_KERNELS, {})
        frames["kernels"] += [kernels, jac.run_lambda(tiny_spec(jac.LambdaSpec, nonlinearity=nl))]
        for width in (8, 16):
            frames["init"].append(
                jac.run_init(
                    tiny_spec(
                        jac.InitSpec,
                        nonlinearity=nl,
                        width=width,
                        seeds=(0, 1),
                        kernels_path=str(path),
                    )
                )
            )
            frames["trial"].append(
                jac.run_trial(tiny_spec(jac.TrialSpec, nonlinearity=nl, width=width, seeds=(0, 1)))
            )
        surface.append(jac.run_surface(tiny_spec(jac.SurfaceSpec, nonlinearity=nl)))
    tables = {f"jacot2020.{name}": _concat(parts) for name, parts in frames.items()}
    tables["jacot2020.surface"] = _concat(surface)
    tables["jacot2020.rayleigh"] = jac.run_rayleigh(tiny_spec(jac.RayleighSpec))
    return tables


def ghorbani_tables(tmp_path) -> dict[str, pd.DataFrame]:
    train, curvature = [], []
    for bn, mode in (("none", "none"), ("batch", "batch"), ("population", "frozen")):
        # Checkpoints at the drop (20) and AFTER_DROP steps later, for the learning-rate-drop
        # figure.
        spec = tiny_spec(
            gh.TrainSpec,
            bn=bn,
            checkpoint_dir=str(tmp_path / bn),
            steps=20 + AFTER_DROP,
            checkpoints=[0, 10, 20, 20 + AFTER_DROP],
        )
        train.append(gh.run_train(spec))
        curvature.append(
            gh.run_curvature(
                tiny_spec(
                    gh.CurvatureSpec,
                    bn=bn,
                    checkpoint_dir=spec.checkpoint_dir,
                    steps=spec.checkpoints,
                    hessian_modes=[mode],
                    top_eigs=10,
                    ks=[1, 10],
                )
            )
        )
    return {
        "ghorbani2019.train": _concat(train),
        "ghorbani2019.curvature": _concat(curvature),
        "ghorbani2019.validation": gh.run_validation(tiny_spec(gh.ValidationSpec)),
    }


def mori_tables() -> dict[str, pd.DataFrame]:
    noise = [mori.run_noise(tiny_spec(mori.NoiseSpec, net=net, epochs=4)) for net in ("fc", "cnn")]
    stationary = [
        mori.run_stationary(tiny_spec(mori.StationarySpec, eta=eta, batch=batch))
        for eta in (0.01, 0.1)
        for batch in (1, 2)
    ]
    passage = [
        mori.run_first_passage(tiny_spec(mori.FirstPassageSpec, dynamics=dyn, dim=dim))
        for dyn in ("sgd", "control")
        for dim in (1, 2)
    ]
    return {
        "mori2022.decoupling": mori.run_decoupling(tiny_spec(mori.DecouplingSpec)),
        "mori2022.noise": _concat(noise),
        "mori2022.stationary": _concat(stationary),
        "mori2022.first_passage": _concat(passage),
    }


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, dict[str, pd.DataFrame]]:
    """Every paper's tables; the image data sets replaced by synthetic images."""
    tmp = tmp_path_factory.mktemp("figure-tables")
    threads = torch.get_num_threads()
    # One intra-op thread: on shared cores more made these toy runs several times slower.
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gh, "load_subset", lambda d, r, n, s, i: _images(n, side=8, classes=3))
            mp.setattr(mori, "image_data", lambda d, r, n, i: _images(n))
            mp.setattr(jac.Data, "load", lambda self: _jacot_inputs(self.n_samples))
            return {
                "du2018": du_tables(),
                "ghorbani2019": ghorbani_tables(tmp),
                "huh2020": huh_tables(),
                "jacot2020": jacot_tables(tmp),
                "mori2022": mori_tables(),
            }
    finally:
        torch.set_num_threads(threads)


def _jacot_inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs on the sphere (‖x‖²/n₀ = 1) with ±1 targets, in place of MNIST."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 9))
    x *= np.sqrt(9) / np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.sign(rng.standard_normal((n, 1)))


# --------------------------------------------------------------------------- the check


@pytest.mark.parametrize("paper", sorted(registry.PAPERS))
def test_every_figure_fits_the_column_and_reads_cleanly(paper, tables, tmp_path, monkeypatch):
    module = __import__(f"curvlab.plots.{paper}", fromlist=["render_figures"])
    declared: list[str] = []
    found: dict[str, list[str]] = {}

    def render(outdir, paper_key, title, builders, **options):
        declared.extend(fig_id for fig_id, _, _ in builders)
        return common.render_figures(outdir, paper_key, title, builders, **options)

    def check(fig, outdir, fig_id):  # in place of saving: the PNG and PDF are not looked at
        found[fig_id] = problems(fig)
        plt.close(fig)
        return f"{fig_id}.png", f"{fig_id}.pdf"

    monkeypatch.setattr(module, "render_figures", render)
    monkeypatch.setattr(common, "save_figure", check)
    records = registry.PAPERS[paper].make_figures(tables[paper], tmp_path, "ci")
    assert [r.id for r in records] == declared, "a builder drew nothing on the tiny tables"
    bad = {fig_id: p for fig_id, p in found.items() if p}
    assert not bad, "\n".join(f"{fig_id}: {p}" for fig_id, ps in bad.items() for p in ps)
