# slipway - the whole loop on a laptop. `make demo` and `make test` work on a fresh clone.
# A Python 3.13 (the Lambda runtime): PATH first, then pyenv's usual place. `command -v` may find
# pyenv's shim, which exists but fails unless pyenv selects 3.13, so each candidate must run.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,python3.13 $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13 $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
  $(wildcard /usr/local/bin/python3.13) $(wildcard /usr/bin/python3.13),\
  $(shell $(p) -c 'import sys; print("$(p)") if sys.version_info[:2] == (3, 13) else None' 2>/dev/null)))
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck cfn-lint up bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "slipway needs Python 3.13: install it (e.g. 'pyenv install 3.13') or run make PYTHON=/path/to/python3.13"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/slipway demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint infra/template.yaml

up: $(STAMP)
	$(BIN)/slipway local up

bench: $(STAMP)
	$(BIN)/python bench/validation/bench_validation.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .mypy_cache
