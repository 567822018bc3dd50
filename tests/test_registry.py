"""The plug-in registry: every paper is found from its files, and a new one needs nothing else.

tests/toy_paper/ holds a complete throw-away paper; the last test adds it to a scratch copy of
the repository and runs the workflow on it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from wfutil import ROOT, snakemake

import curvlab.papers
from curvlab import registry
from curvlab.config import load_schema, validate_config
from curvlab.plugin import load

TOY = Path(__file__).parent / "toy_paper"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SHARED_RULES = {"common", "data", "papers", "report"}


def _snakefile_papers() -> list[str]:
    included = re.findall(
        r'^include: "workflow/rules/(\w+)\.smk"', (ROOT / "Snakefile").read_text(), re.M
    )
    return [name for name in included if name not in SHARED_RULES]


def test_every_paper_is_a_complete_set_of_files():
    assert set(registry.PAPERS) == {"du2018", "ghorbani2019", "huh2020", "jacot2020", "mori2022"}
    for key, paper in registry.PAPERS.items():
        for package in ("experiments", "plots", "claims"):
            assert importlib.util.find_spec(f"curvlab.{package}.{key}"), f"curvlab.{package}.{key}"
        assert (ROOT / "workflow" / "rules" / f"{key}.smk").is_file()
        assert (ROOT / "workflow" / "schemas" / f"{key}.schema.yaml").is_file()
        assert (ROOT / "docs" / "papers" / f"{key}.md").is_file()
        assert paper.title.split(" ")[0] in paper.title and "(" in paper.title
        for name, task in paper.tasks.items():
            assert name.startswith(f"{key}-")
            assert task.table in paper.tables
            assert callable(load(task.run)) and isinstance(load(task.spec), type)
        # each table name is <key>.<short name>, which names the aggregated file
        assert all(t.name.startswith(f"{key}.") for t in paper.tables)


def test_the_snakefile_names_exactly_the_discovered_papers():
    """The Snakefile lists the papers' rule files by hand (it reads as a table of contents);
    this keeps that list and the plug-ins in step."""
    assert sorted(_snakefile_papers()) == sorted(registry.PAPERS)


def test_the_config_schema_allows_exactly_the_discovered_papers():
    schema = load_schema(SCHEMA)
    assert schema["properties"]["papers"]["anyOf"][1]["items"]["enum"] == list(registry.PAPERS)
    for key in registry.PAPERS:
        assert key in schema["properties"], f"workflow/schemas/{key}.schema.yaml not included"


def test_a_module_that_breaks_the_contract_is_named(tmp_path, monkeypatch):
    package = types.ModuleType("fake_papers")
    package.__path__ = [str(tmp_path)]
    (tmp_path / "half.py").write_text('TITLE = "Half (2026)"\nTABLES = ()\n')
    monkeypatch.setitem(sys.modules, "fake_papers", package)
    with pytest.raises(
        registry.PluginError, match=r"fake_papers.half .* lacks TASKS, jobs, figures"
    ):
        registry.discover(package)


def test_a_new_paper_module_is_discovered_and_planned(tmp_path, monkeypatch):
    """Dropping the toy plug-in into curvlab.papers' search path is all discovery needs; with
    its schema beside the others, "papers: [toy]" validates and plans its jobs."""
    papers_dir = tmp_path / "papers"
    papers_dir.mkdir()
    shutil.copy(TOY / "src/curvlab/papers/toy.py", papers_dir / "toy.py")
    monkeypatch.setattr(curvlab.papers, "__path__", [*curvlab.papers.__path__, str(papers_dir)])
    found = registry.discover()
    assert list(found) == sorted(found) and "toy" in found
    monkeypatch.setattr(registry, "PAPERS", found)

    schemas = tmp_path / "schemas"
    shutil.copytree(ROOT / "workflow" / "schemas", schemas)
    shutil.copy(TOY / "workflow/schemas/toy.schema.yaml", schemas)
    config = validate_config({"papers": ["toy"]}, schemas / "config.schema.yaml")
    assert config["toy"] == {"n": 100, "seeds": [0, 1]}  # the defaults, from its schema only
    jobs = registry.all_jobs(config)
    assert sorted(jobs) == [
        "results/toy/draws/n~100/seed~0.parquet",
        "results/toy/draws/n~100/seed~1.parquet",
    ]
    sys.modules.pop("curvlab.papers.toy", None)


def _copy_with_toy(dest: Path) -> Path:
    """A scratch repository: the real one plus the toy's files and one Snakefile line."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("workflow", "profiles", "envs", "presets", "docs", "src"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copytree(TOY, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    snakefile = dest / "Snakefile"
    text = snakefile.read_text()
    anchor = 'include: "workflow/rules/papers.smk"'
    snakefile.write_text(text.replace(anchor, f'include: "workflow/rules/toy.smk"\n{anchor}'))
    (dest / "overlay.yaml").write_text("preset: custom\npapers: [toy]\n")
    return dest


@pytest.mark.workflow
def test_a_new_paper_runs_end_to_end_from_its_files_alone(tmp_path):
    """The files listed in tests/toy_paper/README.md and one include line: the workflow plans,
    runs, aggregates, plots and judges the new paper, and the report lists it."""
    work = _copy_with_toy(tmp_path)
    # Jobs run `python -m curvlab`: point them at the copy's package, which has the toy.
    env = {**os.environ, "PYTHONPATH": str(work / "src")}
    snakemake(work, "--cores", "1", "reports/all", env=env)
    draws = pd.read_parquet(work / "results" / "toy" / "draws.parquet")
    assert sorted(draws["seed"]) == [0, 1]
    claims = pd.read_parquet(work / "reports" / "claims.parquet")
    assert claims[["paper", "claim_id"]].values.tolist() == [["toy", "mean_near_zero"]]
    assert claims["verdict"].tolist() == ["REPRODUCED"]
    assert (
        "Toy (2026): sample means of normal draws" in (work / "reports" / "claims.md").read_text()
    )
    assert (work / "reports" / "figures" / "toy" / "means.png").is_file()
    assert (work / "reports" / "docs" / "toy.html").is_file()
