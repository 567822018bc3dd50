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


# One rules file per paper plug-in (curvlab.papers.<key>).
for _paper in PAPERS:

    include: f"workflow/rules/{_paper}.smk"


include: "workflow/rules/report.smk"


warn_oversized_jobs()


rule all:
    default_target: True
    input:
        "reports/all",
