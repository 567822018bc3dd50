"""Planning-time memory estimates: parameter counts against the real models, and a config that
asks for petabytes is flagged before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from wfutil import make_copy, snakemake

from curvlab.config import load_config, merge, validate_config
from curvlab.footprint import arch_size, describe, oversized
from curvlab.registry import TASKS, all_jobs

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
ESTIMATORS = {name: task.memory for name, task in TASKS.items() if task.memory is not None}


@pytest.mark.parametrize(
    ("arch", "channels", "side"),
    [
        ("resnet8-w8", 3, 16),
        ("resnet32-w16", 3, 32),
        ("vgg-16-M-32-M-64-M", 1, 14),
        ("vgg-64-M-128-M-256-256-M-512-512-M-512-512-M", 3, 32),
        ("mlp-32-32", 1, 7),
    ],
)
def test_parameter_counts_match_the_models(arch, channels, side):
    from curvlab.models.vgg import build_model

    model = build_model(arch, "none", channels, side)
    actual = sum(p.numel() for p in model.parameters())
    assert arch_size(arch, channels, side)[0] == pytest.approx(actual, rel=0.01)


def test_mori_cnn_estimate_counts_the_convolutions_and_the_classifier():
    from curvlab.footprint import F32
    from curvlab.models.feedforward import cnn
    from curvlab.papers.mori2022 import noise_memory

    spec = {"net": "cnn", "dataset": "mnist", "image_size": None, "widths": [32, 64]}
    spec |= {"convs_per_stack": 2, "batch": 1, "n_samples": 0}
    params = sum(p.numel() for p in cnn(1, 28, (32, 64), 2, 10).parameters())
    assert noise_memory(spec) == F32 * 11 * params


def test_every_task_has_an_estimate():
    assert set(ESTIMATORS) == set(TASKS)


@pytest.mark.parametrize("preset", [None, "ci", "offline"])
def test_the_shipped_scales_fit_a_16_gib_machine(preset):
    files = [ROOT / "config.yaml"] + ([ROOT / "presets" / f"{preset}.yaml"] if preset else [])
    jobs = all_jobs(load_config(files, SCHEMA))
    assert oversized(jobs, ESTIMATORS, {}, machine_mb=16 * 1024) == []


def test_a_petabyte_network_is_flagged_once_naming_its_job():
    base = load_config([ROOT / "config.yaml"], SCHEMA)
    huge = validate_config(
        merge(base, {"du2018": {"model": {"hidden_dims": [10_000_000, 10_000_000]}}}), SCHEMA
    )
    warnings = oversized(all_jobs(huge), ESTIMATORS, {"du2018-network": 2000}, 16 * 1024)
    assert len(warnings) == 1
    assert warnings[0].startswith("du2018-network: the largest job (results/du2018/network/")
    assert (
        "PiB, more than this machine's 16.0 GiB and the mem_mb=2000 its rule requests"
        in warnings[0]
    )


def test_describe_picks_a_readable_unit():
    assert describe(1536) == "1.5 KiB"
    assert describe(36.4 * 2**40) == "36.4 TiB"


@pytest.mark.workflow
@pytest.mark.xdist_group("workflow")
def test_dry_run_warns_before_anything_runs(tmp_path):
    overlay = {"papers": ["du2018"], "du2018": {"model": {"hidden_dims": [10_000_000, 100]}}}
    workdir = make_copy(tmp_path / "wf", overlay)
    result = snakemake(workdir, "-n", "reports/all", "--quiet", "rules")
    assert "Memory: du2018-network: the largest job" in result.stdout + result.stderr
