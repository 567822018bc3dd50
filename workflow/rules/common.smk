# Shared setup: config validation at parse time, the job table, and how rules call curvlab.
import json
import shlex
import sys
from pathlib import Path

from snakemake.io import report as report_figure
from snakemake.settings.types import DeploymentMethod

# The workflow always runs its own checkout of the package, also when Snakemake itself was
# installed elsewhere (e.g. a conda base environment).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from curvlab.config import validate_config
from curvlab.data.registry import names as dataset_names
from curvlab.registry import PAPERS, TASKS, all_jobs, selected
from curvlab.runtime import gpus_wanted

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
_validated = validate_config(config, SCHEMA)
config.clear()
config.update(_validated)

SCALE = config["preset"]
# Rules that benefit from a GPU declare resources: gpu=GPU (1 when the device resolves to CUDA,
# so Slurm gives the job a GPU and --resources gpu=N throttles them locally).
GPU = gpus_wanted(config["device"])
SELECTED = selected(config)
JOBS = all_jobs(config)

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

# papers.smk registers, per selected paper, what the report gathers (its claims table, its
# figures and their manifest, the result tables whose provenance the report summarizes).
PAPER_OUTPUTS = {}
# The data sets a rule's {dataset} wildcard may name (curvlab.data.registry).
DATASET_PATTERN = "|".join(dataset_names())


def warn_oversized_jobs():
    """Called once all rules exist: a warning for each task whose largest planned job is
    estimated to need more memory than this machine has or than its rule's mem_mb."""
    import psutil
    from snakemake.logging import logger

    from curvlab.footprint import oversized

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


def spec_value(pattern, key):
    """An input function: the value ``key`` of the spec of the job whose output is ``pattern``
    filled in (for inputs a job's spec names, e.g. the kernels a Jacot init job reads).
    """

    def value(wildcards):
        return JOBS[pattern.format(**wildcards)].spec[key]

    return value


def formatted(pattern):
    """An input function: ``pattern`` filled in with the job's wildcards (those it names)."""

    def path(wildcards):
        return pattern.format(**wildcards)

    return path


def data_file(dataset):
    """The prepared arrays of ``dataset`` (rule prepare_dataset writes them)."""
    return f"{config['data']['root']}/{dataset}.npz"


def dataset_input(wildcards):
    """An input function: the prepared arrays of the job's ``{dataset}`` wildcard."""
    return data_file(wildcards.dataset)


def figure_files(paper, figure_ids):
    """A paper's figure outputs: PNGs marked for ``snakemake --report`` (category = the paper,
    caption = the ``.rst`` the plot job writes beside each figure), PDFs and the captions.
    """
    outdir = f"reports/figures/{paper}"
    pngs = [
        # Captions are resolved relative to the rules file (workflow/rules/).
        report_figure(
            f"{outdir}/{fig}.png",
            caption=f"../../{outdir}/{fig}.rst",
            category=PAPERS[paper].title,
        )
        for fig in figure_ids
    ]
    return pngs + [
        f"{outdir}/{fig}.{ext}" for fig in figure_ids for ext in ("pdf", "rst")
    ]


def aggregate_inputs(paper):
    """Per aggregated table, the result files of every task that writes that table."""
    return {
        table.short_name: [
            path
            for name, task in PAPERS[paper].tasks.items()
            if task.table is table
            for path in job_paths(name)
        ]
        for table in PAPERS[paper].tables
    }
