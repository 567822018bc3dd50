# curvlab: regenerate every experimental figure of five papers on curvature and learning
# dynamics. Wiring only: config, validation, rule modules and the final target.
#
#   snakemake --cores all reports/all                                   # default scale
#   snakemake --cores 2 --configfile presets/ci.yaml reports/all        # minutes
#   snakemake --workflow-profile profiles/slurm --configfile presets/paper.yaml reports/all
from snakemake.utils import min_version

min_version("9.19")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/du2018.smk"
include: "workflow/rules/huh2020.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "reports/all",
