# metrics-guard: the one interface. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
TOOLS := .tools
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
SAM_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
SCENARIO ?= expired-one
ARCH ?= x86_64
PYTHON313 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
LAMBDA_RUNTIME := $(HOME)/.cache/metrics-guard/lambda-runtime-py313
# sam build looks for python3.13 on PATH: with pyenv, make every installed version visible to its shims.
PYENV_VERSIONS := $(shell pyenv versions --bare 2>/dev/null | paste -sd: -)
PYTEST_ARGS ?=
export PYTHONDONTWRITEBYTECODE := 1
export SAM_CLI_TELEMETRY := 0

SHELL_SCRIPTS := $(shell find layers/common/metrics_guard/remediation .ci devcluster -name '*.sh' -not -path '*/tools/*' 2>/dev/null) .ci/run

.PHONY: help
help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

# ------------------------------------------------------------------------------------------- set-up
$(VENV_STAMP): requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

$(SAM):
	@test -x $(TOOLS)/sam/bin/python || $(PYTHON) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)

$(CHECKOV):
	@test -x $(TOOLS)/checkov/bin/python || $(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q --disable-pip-version-check checkov==$(CHECKOV_VERSION)

$(LAMBDA_RUNTIME)/.installed:
	@test -x "$(PYTHON313)" || { echo "python3.13 not found (pyenv install 3.13.0)" >&2; exit 1; }
	"$(PYTHON313)" -m pip install -q --disable-pip-version-check --root-user-action=ignore --upgrade \
	    --target $(LAMBDA_RUNTIME) --only-binary=:all: awslambdaric==4.2.2 boto3==1.44.8
	@touch $@

.PHONY: venv tools system-deps binaries lambda-runtime
venv: $(VENV_STAMP) ## the project's virtualenv (.venv) with pinned dependencies
tools: $(SAM) $(CHECKOV) ## AWS SAM CLI and checkov, each in a virtualenv of its own
lambda-runtime: $(LAMBDA_RUNTIME)/.installed ## awslambdaric + boto3 for python3.13 (the built-artifact test's runtime)
system-deps: ## Debian packages the devcluster needs (nftables, iproute2, openssl, curl)
	@bash devcluster/install-system-deps.sh
binaries: venv system-deps ## build (or reuse) the devcluster's Go binaries
	$(VENV)/bin/devcluster build

# ------------------------------------------------------------------------------------------- main job
.PHONY: demo
demo: venv system-deps ## the main job on the local control plane and moto (SCENARIO=expired-one|expired-all|wrong-cn|ca-mismatch|rollback|no-route)
	$(PY) -m demo --scenario $(SCENARIO)

.PHONY: cluster-up cluster-down
cluster-up: venv system-deps ## devcluster up with defaults
	$(VENV)/bin/devcluster up
cluster-down: venv ## devcluster down
	$(VENV)/bin/devcluster down

# ------------------------------------------------------------------------------------------- checks
.PHONY: lint format typecheck template-check
lint: venv tools ## linters only: ruff, shellcheck, cfn-lint, sam validate --lint, checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/shellcheck $(SHELL_SCRIPTS)
	$(PY) -m tests.template_sync
	$(MAKE) --no-print-directory template-check
format: venv ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
typecheck: venv ## mypy --strict over code and tests
	$(VENV)/bin/mypy
template-check: venv tools
	$(VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(SAM) validate --lint --template template.yaml --region us-east-1
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml

.PHONY: test test-all unit
test: lint typecheck lambda-runtime system-deps ## what CI runs: linters, types, unit + integration + e2e (default scenario) + built artifact
	$(MAKE) --no-print-directory build
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)
test-all: lint typecheck lambda-runtime system-deps ## make test plus every scenario, every one-apiserver variant and Kubernetes v1.35.4
	$(MAKE) --no-print-directory build
	$(VENV)/bin/devcluster build --kubernetes-version v1.35.4
	$(PY) -m pytest $(PYTEST_ARGS)
unit: venv ## the unit tier only (no network, seconds)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# ------------------------------------------------------------------------------------------- build, bench
.PHONY: build bench
build: venv tools ## sam build (layer with precompiled .pyc, functions); ARCH=x86_64|arm64
	MG_ARCHITECTURE=$(ARCH) PYENV_VERSION=$(PYENV_VERSIONS) $(SAM) build --template template.yaml \
	    --build-dir .aws-sam/build --parameter-overrides Architecture=$(ARCH)
bench: venv system-deps build ## the benchmarks (on a devcluster of their own: .devcluster-bench); tables in benchmarks/results/
	DEVCLUSTER_HOME=$${DEVCLUSTER_HOME:-$(CURDIR)/.devcluster-bench} $(PY) -m benchmarks

.PHONY: clean
clean: ## remove build outputs (not the Go caches, not the binary cache)
	rm -rf .aws-sam build dist .mypy_cache .ruff_cache .pytest_cache
