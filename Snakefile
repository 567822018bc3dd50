# curvlab: regenerate every experimental figure of five papers on curvature and learning
# dynamics. Wiring only: config, validation, rule modules and the final target.
#
#   snakemake --cores all reports/all                                   # default scale
#   snakemake --cores 2 --configfile=presets/ci.yaml reports/all        # minutes
#   snakemake --workflow-profile profiles/slurm --configfile=presets/paper.yaml reports/all
# (--configfile takes several files: use "=" or put the target first.)
from snakemake.utils import min_version

min_version("9.19")


# Resolved from the workflow, not the working directory, so that --directory (a separate run
# directory, e.g. for calibration runs) still starts from the defaults.
configfile: f"{workflow.basedir}/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
# The papers' experiments, one rules file per plug-in (src/curvlab/papers/<key>.py).
include: "workflow/rules/du2018.smk"  # Du, Hu & Lee 2018: balanced layers
include: "workflow/rules/ghorbani2019.smk"  # Ghorbani, Krishnan & Xiao 2019: Hessian densities
include: "workflow/rules/huh2020.smk"  # Huh 2020: curvature-corrected dynamics
include: "workflow/rules/jacot2020.smk"  # Jacot, Gabriel & Hongler 2020: Hessian moments
include: "workflow/rules/mori2022.smk"  # Mori, Ziyin, Liu & Ueda 2022: SGD escape rate
# Per paper: aggregate its tables, draw its figures, judge its claims.
include: "workflow/rules/papers.smk"
include: "workflow/rules/report.smk"


warn_oversized_jobs()


rule all:
    default_target: True
    input:
        "reports/all",
