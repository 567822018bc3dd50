"""The HTML report rule gets the resolved config as a file, written by a tracked rule.

Passed as one command-line argument, the config would hit Linux's 128 KiB cap on a single
argument as it grows; the file is written by the ``report_config`` rule, whose params hold the
config so that a changed config reruns it and, through its output, the report.
"""

from __future__ import annotations

import json

import yaml
from wfutil import MICRO, make_copy, snakemake


def test_the_report_reads_the_config_from_a_tracked_file(tmp_path):
    workdir = make_copy(tmp_path / "wf", MICRO)
    plan = snakemake(workdir, "-n", "-p", "reports/index.html").stdout
    report_commands = [line for line in plan.splitlines() if " -m curvlab report " in line]
    assert len(report_commands) == 1, plan
    assert "--config-file reports/config.json" in report_commands[0]
    assert "--config-json" not in plan

    snakemake(workdir, "--cores", "1", "reports/config.json")
    written = json.loads((workdir / "reports" / "config.json").read_text())
    assert written["preset"] == "custom" and written["papers"] == ["du2018", "huh2020"]

    again = snakemake(workdir, "-n", "reports/config.json")
    assert "Nothing to be done" in again.stdout + again.stderr
    (workdir / "seeds.yaml").write_text(yaml.safe_dump({"huh2020": {"seeds": [0, 1]}}))
    rerun = snakemake(
        workdir, "-n", "reports/config.json", configfiles=("overlay.yaml", "seeds.yaml")
    )
    assert "report_config" in rerun.stdout and "params" in rerun.stdout + rerun.stderr
