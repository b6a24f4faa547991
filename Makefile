# medimg developer tasks. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Touched after a successful install; older than pyproject.toml means "reinstall".
STAMP := $(VENV)/.medimg-installed
MEDIMG_DATA_DIR ?= ../shared/datasets
# Extra arguments, e.g. `make test PYTEST_ARGS='-m "not browser" -x'`.
PYTEST_ARGS ?=
TRAIN_ARGS ?=
AUDIT_ARGS ?=
BENCH_ARGS ?=

# Pass the dataset location to pytest only when it exists, as an absolute path; otherwise
# the dataset tests see no MEDIMG_DATA_DIR and say so.
DATA_ENV = $(if $(wildcard $(MEDIMG_DATA_DIR)),MEDIMG_DATA_DIR=$(abspath $(MEDIMG_DATA_DIR)))

.PHONY: help venv run test lint train audit bench bench-training clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv (Python >= 3.11) and install the project with dev extras

$(STAMP): pyproject.toml
	@if [ ! -x "$(PY)" ]; then \
	  py=""; \
	  for cand in python3.11 python3; do \
	    if $$cand -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	      py=$$cand; break; \
	    fi; \
	  done; \
	  if [ -z "$$py" ]; then echo "make venv: needs python3.11 (or a python3 >= 3.11)" >&2; exit 1; fi; \
	  echo "creating $(VENV) with $$(command -v $$py) ($$($$py -V))"; \
	  $$py -m venv "$(VENV)"; \
	fi
	$(PY) -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

run: venv ## start the API (:8000) and the SPA (:8080); Ctrl-C stops both
	PYTHON=$(PY) scripts/run.sh

lint: venv ## ruff
	$(PY) -m ruff check .

test: lint ## ruff, then the test suite
	$(DATA_ENV) $(PY) -m pytest $(PYTEST_ARGS)

train: venv ## train and export a model from MEDIMG_DATA_DIR
	$(PY) -m ml.train --data $(MEDIMG_DATA_DIR) --out models/brain-tumor-cnn $(TRAIN_ARGS)

audit: venv ## report duplicates/leakage/label problems in MEDIMG_DATA_DIR
	$(PY) -m ml.audit --data $(MEDIMG_DATA_DIR) $(AUDIT_ARGS)

bench: venv ## measure classification latency/throughput
	$(DATA_ENV) $(PY) -m bench $(BENCH_ARGS)

bench-training: venv ## time the training command alone (about 45 min on 2 cores)
	$(PY) -m bench.training --data $(MEDIMG_DATA_DIR)

# var/ (the local records database and images) is never deleted by make.
clean: ## remove caches and build/test output; keeps .venv and var/
	rm -rf test-artifacts/ build/ .pytest_cache/ .ruff_cache/ *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
