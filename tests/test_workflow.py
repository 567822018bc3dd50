"""The Snakemake workflow end to end, in a scratch copy: outputs, reruns, failure behaviour.

A micro overlay keeps every job to a second or two. One completed run is shared by the tests
that only read it; the tests that kill or change things get their own copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from wfutil import MICRO, make_copy, snakemake

from curvlab.claims import Verdict, claim_set
from curvlab.io import read_table
from curvlab.papers.du2018 import DU2018_FACTORIZATION, DU2018_NETWORK
from curvlab.tables import CLAIMS

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]


def planned(workdir: Path, *configfiles: str) -> dict[str, int]:
    """Job counts per rule of a dry run."""
    out = snakemake(
        workdir,
        "-n",
        "reports/all",
        "--quiet",
        "rules",
        configfiles=configfiles or ("overlay.yaml",),
    ).stdout
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    workdir = make_copy(tmp_path_factory.mktemp("wf"), MICRO)
    snakemake(workdir, "--cores", "2", "reports/all")
    return workdir


def test_run_writes_every_deliverable(finished):
    manifest = (finished / "reports" / "all").read_text().splitlines()
    listed = {line.split("\t")[0] for line in manifest[1:]}
    assert {"reports/index.html", "reports/claims.md", "reports/claims.parquet"} <= listed
    figures = {p for p in listed if p.startswith("reports/figures/du2018/")}
    assert len(figures) == 18  # six figures: PNG, PDF and the caption (.rst)
    huh = {p for p in listed if p.startswith("reports/figures/huh2020/")}
    assert len(huh) == 12  # four figures (the α sweep is off): PNG, PDF, caption
    html = (finished / "reports" / "index.html").read_text()
    for png in (p for p in figures if p.endswith(".png")):
        assert f"figures/du2018/{Path(png).name}" in html
    claims = read_table(finished / "reports" / "claims.parquet", CLAIMS)
    assert set(claims["scale"]) == {"custom"}
    exact = claims.set_index("claim_id").loc[
        ["identity_per_step", "identity_cumulative", "identity_neuronwise", "mf_identity_per_step"]
    ]
    assert exact["passed"].all(), exact
    # Every declared claim of both papers is a row, with one verdict from the vocabulary; the
    # controls switched off in MICRO are NOT RUN, and no FAIL hides an unmet precondition.
    for paper in ("du2018", "huh2020"):
        ids = list(claims.loc[claims["paper"] == paper, "claim_id"])
        assert ids == [spec.id for spec in claim_set(paper)]
    assert set(claims["verdict"]) <= {str(v) for v in Verdict}
    huh = claims[claims["paper"] == "huh2020"].set_index("claim_id")
    assert (huh.loc[huh["outcome"] == "not_run", "verdict"] == "NOT RUN").all()
    assert (huh["outcome"] == "not_run").any()
    assert not (claims["outcome"].eq("fail") & ~claims["preconditions_met"]).any()
    # The report opens with the verdict counts and links each claim to its documentation,
    # rendered beside it.
    assert '<table class="verdicts">' in html.split("<section", 1)[0]
    docs = (finished / "reports" / "docs" / "du2018.html").read_text()
    for cid in claims.loc[claims["paper"] == "du2018", "claim_id"]:
        assert f'href="docs/du2018.html#{cid}"' in html
        assert f'id="{cid}"' in docs
    assert "reports/docs/du2018.html" in listed
    assert (finished / "logs" / "du2018" / "aggregate.log").exists()
    assert list((finished / "results" / "benchmarks").rglob("*.tsv"))


def test_diverged_run_is_recorded_and_shown(finished):
    mf = read_table(finished / "results" / "du2018" / "factorization.parquet", DU2018_FACTORIZATION)
    diverged = mf[mf["diverged"]]
    assert set(diverged["eta0"]) == {3.0}
    caption = (finished / "reports" / "figures" / "du2018" / "figures.json").read_text().lower()
    assert "diverged" in caption and "η₀ = 3" in caption


def test_provenance_is_in_every_result(finished):
    table = read_table(finished / "results" / "du2018" / "network.parquet", DU2018_NETWORK)
    runs = table.attrs["provenance"]["aggregate_of"]
    for record in runs.values():
        assert record["dtype"] == "float64" and record["device"] == "cpu"
        assert record["torch_version"] and record["config_hash"] and record["wall_time_s"] > 0
        assert record["seed"] == record["config"]["seed"]


def test_nothing_to_do_after_a_complete_run(finished):
    assert planned(finished) == {}


def test_changing_a_seed_list_or_step_size_reruns_only_affected_jobs(finished):
    seeds = {**MICRO, "du2018": {**MICRO["du2018"], "network": {"steps": 300, "seeds": [0, 1]}}}
    (finished / "more.yaml").write_text(yaml.safe_dump(seeds))
    counts = planned(finished, "overlay.yaml", "more.yaml")
    assert counts["du2018_network"] == 2  # the new seed, both initializations
    assert "du2018_factorization" not in counts
    etas = {**MICRO, "du2018": {**MICRO["du2018"], "network": {"steps": 300, "etas": [0.2, 0.1]}}}
    (finished / "eta.yaml").write_text(yaml.safe_dump(etas))
    counts = planned(finished, "overlay.yaml", "eta.yaml")
    assert counts["du2018_network"] == 2 and "du2018_factorization" not in counts


def test_changing_a_setting_not_in_the_path_reruns_exactly_the_jobs_that_use_it(finished):
    """Specs are tracked params: a changed width or matrix shape reruns its jobs only."""
    wider = {"du2018": {"model": {"hidden_dims": [9, 9]}}}
    (finished / "wider.yaml").write_text(yaml.safe_dump(wider))
    counts = planned(finished, "overlay.yaml", "wider.yaml")
    # main (2 inits) + large-η (1) runs use du2018.model; the drift runs override the widths.
    assert counts["du2018_network"] == 3 and "du2018_factorization" not in counts
    shape = {"du2018": {"factorization": {"shape": [9, 8]}}}
    (finished / "shape.yaml").write_text(yaml.safe_dump(shape))
    counts = planned(finished, "overlay.yaml", "shape.yaml")
    assert counts["du2018_factorization"] == 6 and "du2018_network" not in counts  # all MF runs


def test_bad_config_fails_at_parse_time_naming_the_key(tmp_path):
    bad = {"du2018": {"network": {"steps": "many", "stepz": 1}}}
    workdir = make_copy(tmp_path, bad)
    result = snakemake(workdir, "-n", "reports/all", check=False)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "du2018.network.steps: got 'many'; allowed: integer >= 1" in text
    assert "unknown key(s) 'stepz'" in text
    assert not (workdir / "results").exists()


def _slow_job(root):
    """The running decaying-factorization job process under ``root``, if any."""
    import psutil

    for child in root.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "curvlab job du2018-factorization" in cmd and '"study": "decaying"' in cmd:
            return child
    return None


@pytest.mark.parametrize("victim", ["job", "everything"])
def test_sigkill_mid_job_leaves_no_partial_output_and_resumes(tmp_path, victim):
    """SIGKILL the running job alone (Snakemake sees it fail) or with Snakemake (power loss)."""
    import psutil

    slow = {
        **MICRO,
        "du2018": {
            **MICRO["du2018"],
            "factorization": {
                **MICRO["du2018"]["factorization"],
                "studies": {
                    **MICRO["du2018"]["factorization"]["studies"],
                    "decaying": {"rank": 2, "steps": 400000, "log_every": 1000},
                },
            },
        },
    }
    workdir = make_copy(tmp_path, slow)
    experiments = ("du2018_network", "du2018_factorization")
    total = sum(planned(workdir).get(rule, 0) for rule in experiments)
    env = {**os.environ, "MPLCONFIGDIR": str(workdir / ".mpl")}
    # One core: while the slow job runs, every other finished job is complete and recorded.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "1",
            "reports/all",
            "--configfile",
            "overlay.yaml",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    job = None
    deadline = time.time() + 240
    try:
        while job is None and time.time() < deadline:
            job = _slow_job(psutil.Process(proc.pid))
            time.sleep(0.2)
        assert job is not None, "the slow job never started"
        time.sleep(1.0)  # let it compute for a while
        done_before = {
            p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("seed~*.parquet")
        }
        if victim == "job":
            job.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=240) != 0  # Snakemake reports the failed job and stops
        else:
            os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and every job it started
            proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    slow_outs = [p for p in (workdir / "results").rglob("seed~*.parquet") if "/decaying/" in str(p)]
    assert slow_outs == [] and not list((workdir / "results").rglob("*.partial"))
    if victim == "everything":
        snakemake(workdir, "--unlock")  # a killed Snakemake leaves its lock behind
    # The next run redoes the killed job and those not yet started, nothing that finished.
    counts = planned(workdir)
    assert sum(counts.get(rule, 0) for rule in experiments) == total - len(done_before)
    snakemake(workdir, "--cores", "2", "reports/all")
    for path, mtime in done_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"
    assert planned(workdir) == {}
