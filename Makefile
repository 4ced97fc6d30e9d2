# hpcmap: setup, demo, test, perf. Every target is safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
HPCMAP := $(VENV)/bin/hpcmap
PYTEST := $(VENV)/bin/python -m pytest

.PHONY: setup demo test test-gpu perf clean

## setup: virtual environment, the package (editable), the Legion runtime, OpenBLAS (as root), and the builds
setup: $(VENV)/.installed
	@if [ "$$(id -u)" = 0 ]; then benchmarks/common/setup_blas.sh; fi
	@$(HPCMAP) legion setup
	@$(HPCMAP) legion build

$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@# trace-opt (the agent's optimizer) without its declared litellm, xgboost, scikit-learn: never imported here
	@$(VENV)/bin/python -m pip install --quiet --no-deps 'trace-opt==0.1.3.8'
	@touch $@

## demo: a short real tune of stencil on this machine (default, expert, 8 candidates by coordinate
## descent, the best re-measured), ending with the best mapper and its speedup
DEMO := build/demo
demo: setup
	@rm -rf $(DEMO)
	@$(HPCMAP) tune stencil --optimizer ccd --budget 8 --trials 3 --store $(DEMO)/study.h5 -o $(DEMO)/best.map

## test: everything this machine can run (Slurm tests start the local cluster themselves); the
## multi-process tests need Legion with a network module, built here once per machine (11-15 minutes
## on 2 cores, its progress in the log) and cached
test: setup
	@if [ "$$(id -u)" = 0 ]; then slurm/setup.sh; fi
	@$(HPCMAP) legion build-runtime --network mpi
	$(PYTEST) -ra tests

## test-gpu: the GPU suite (tests/gpu/: each app, default and expert mappers, 1 and 4 GPUs); skips without a GPU
test-gpu: setup
	$(PYTEST) -ra -m gpu tests/gpu

## perf: hpcmap's own performance benchmarks; they print their figures
perf: setup
	@for bench in tests/perf/bench_*.py; do echo "== $$bench"; $(VENV)/bin/python $$bench || exit 1; done

clean:
	rm -rf build build-* .legion
