# The two commands of the README. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/dagster_home
export NAS_ASSETS_DATA_DIR ?= $(CURDIR)/data

.PHONY: install demo test lint benchmark ui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m nas_assets demo

test: install
	PYTHON=$(BIN)/python bash tools/run_tests.sh

# ruff (pyflakes, long lines, import order) and mypy, configured in pyproject.toml; .ci/run fails on findings
lint: install
	$(BIN)/ruff check nas_assets tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/python tools/config_reference.py --check

benchmark: install
	$(BIN)/python benchmarks/space.py

ui: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000
