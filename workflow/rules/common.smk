# Shared setup: config validation at parse time, the job table, and how rules call curvlab.
import json
import shlex
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

# The workflow always runs its own checkout of the package, also when Snakemake itself was
# installed elsewhere (e.g. a conda base environment).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from curvlab.config import validate_config
from curvlab.papers import PAPERS, TITLES, selected
from curvlab.runtime import gpus_wanted
from curvlab import sweeps
from curvlab.sweeps import figure_files

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
_validated = validate_config(config, SCHEMA)
config.clear()
config.update(_validated)

SCALE = config["preset"]
# Rules that benefit from a GPU declare resources: gpu=GPU (1 when the device resolves to CUDA,
# so Slurm gives the job a GPU and --resources gpu=N throttles them locally).
GPU = gpus_wanted(config["device"])
SELECTED = selected(config)
JOBS = sweeps.all_jobs(config)

# Jobs run `python -m curvlab`: the conda environment's python under --sdm conda, otherwise the
# interpreter running Snakemake (the project venv). The path is quoted once here, because every
# rule's shell starts with it and a checkout may live under "My Projects/".
PY = (
    "python"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable
)
CURVLAB = f"{shlex.quote(PY)} -m curvlab"
ENV = "../../envs/curvlab.yaml"

# Every paper's .smk registers what the report gathers (its claims table, its figures and
# their manifest, the result tables whose provenance the report summarizes).
PAPER_OUTPUTS = {}


def warn_oversized_jobs():
    """Called once all rules exist: a warning for each task whose largest planned job is
    estimated to need more memory than this machine has or than its rule's mem_mb."""
    import psutil
    from snakemake.logging import logger

    from curvlab.footprint import oversized
    from curvlab.papers import TASKS

    estimators = {name: t.memory for name, t in TASKS.items() if t.memory is not None}
    limits = {}
    for name in estimators:
        rule_name = name.replace("-", "_")
        if workflow.is_rule(rule_name):
            mem = workflow.get_rule(rule_name).resources.get("mem_mb")
            # A fixed request only; one computed per job is compared when the job runs.
            if mem is not None and not mem.is_evaluable():
                limits[name] = mem.value
    machine_mb = psutil.virtual_memory().total / 2**20
    for warning in oversized(JOBS, estimators, limits, machine_mb):
        logger.warning(f"Memory: {warning}")


def job_spec(pattern):
    """A params function: the JSON spec of the job whose output is ``pattern`` filled in.

    It takes only ``wildcards`` on purpose: Snakemake's params rerun trigger ignores params
    derived from ``output``, and the spec must be tracked so that a changed spec reruns its job.
    """

    def spec(wildcards):
        return json.dumps(JOBS[pattern.format(**wildcards)].spec, sort_keys=True)

    return spec


def job_paths(task):
    return sorted(path for path, job in JOBS.items() if job.task == task)


def output_dir(wildcards, output):
    """Directory of a rule's first output (keeps paths derived from outputs, not hard-coded)."""
    return str(Path(output[0]).parent)
