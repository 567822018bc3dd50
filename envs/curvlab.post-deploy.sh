#!/usr/bin/env bash
# Run by Snakemake in the new conda environment, from the workflow's working directory:
# install this checkout of curvlab (dependencies come from curvlab.yaml).
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
