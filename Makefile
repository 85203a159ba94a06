# Scones Unlimited: the front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3.11
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
TARGET     ?= local
LOCAL_PORT ?= 4566
SOURCE     ?= https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz
LABELS     ?= bicycle,motorcycle
DATA_DIR   ?= data/cifar
TF         := terraform -chdir=terraform

ifneq ($(TARGET),local)
ifneq ($(TARGET),aws)
$(error TARGET must be local or aws, got '$(TARGET)')
endif
endif

# Terraform always uses the CLI config the project generates (provider mirror, no registry).
export TF_CLI_CONFIG_FILE := $(CURDIR)/build/terraformrc
# Local and AWS state never mix: one workspace each.
export TF_WORKSPACE := $(if $(filter local,$(TARGET)),local,default)

ifeq ($(TARGET),local)
export AWS_ENDPOINT_URL      := http://127.0.0.1:$(LOCAL_PORT)
export AWS_ACCESS_KEY_ID     ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_DEFAULT_REGION    ?= us-east-1
# local.tfvars names the default port; the cloud on LOCAL_PORT is the one to change.
TF_VARFILES := -var-file=environments/local.tfvars -var=aws_endpoint_url=$(AWS_ENDPOINT_URL)
endif
MODEL_VARS := terraform/model.$(TARGET).tfvars.json
TF_VARFILES += $(if $(wildcard $(MODEL_VARS)),-var-file=model.$(TARGET).tfvars.json)

# Reads one Terraform output for TARGET (empty when there is no state yet).
tf_output = $(shell $(PY) -m deployment.outputs $(1) --target $(TARGET) 2>/dev/null)

.PHONY: help setup browser test lint checkov fmt etl eda package train deploy-model classify monitor apply destroy plan diagrams \
        tf-config asl-validator local-up local-down local-status demo benchmark mutation \
        mutation-asl clean

help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "  Variables: TARGET=local|aws (default local), BUCKET=, SOURCE=, LABELS=, IMAGES=, MODEL= (deploy-model), FORCE=1 (train)"

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON_BIN) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create the virtual environment from pyproject.toml (quick when nothing changed)

build/terraformrc: scripts/terraform_cli_config.py | $(STAMP)
	@$(PY) scripts/terraform_cli_config.py --allow-registry --out $@

tf-config: build/terraformrc ## Write the Terraform CLI config that points at the local provider mirror

# asl-validator (npm), pinned by scripts/asl/package-lock.json; the stamp keeps `npm ci`
# to when the lock changed. Without npm the ASL test skips locally and fails under CI=true.
ASL_STAMP := scripts/asl/node_modules/.installed
$(ASL_STAMP): scripts/asl/package.json scripts/asl/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd scripts/asl && npm ci --no-audit --no-fund --loglevel=error) && touch $@; \
	else echo "npm missing: the asl-validator test will skip (fail under CI=true); install Node.js 18+"; fi

asl-validator: $(ASL_STAMP) ## Install the pinned asl-validator in scripts/asl (npm ci; quick when nothing changed)

# Under CI=true (any value but empty/0/false/no) a Chromium that cannot be installed stops
# here: the screenshot test would fail anyway (tests/support/ci_policy.py).
browser: ## Install headless Chromium (Debian package) for the report's screenshot test, if missing
	@case "$${CI,,}" in ""|0|false|no) ci=;; *) ci=1;; esac; \
	if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (Debian) for the screenshot test..."; \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || { \
	    if [ -n "$$ci" ]; then echo "CI=true: chromium could not be installed (apt-get failed)" >&2; exit 1; fi; \
	    echo "chromium could not be installed: the screenshot test will skip and say so"; }; \
	elif [ -n "$$ci" ]; then echo "CI=true: chromium is missing and this is not root (apt-get install chromium)" >&2; exit 1; \
	else echo "chromium missing and not root: the screenshot test will skip (sudo apt-get install chromium)"; fi

# pytest-terraform refuses to load without a terraform binary; without one, the suites
# that need it skip and say why, so the plugin is switched off instead.
PYTEST_ARGS ?= $(if $(shell command -v terraform),,-p no:terraform)

# Workers for `make test` (pytest-xdist; each tests/ folder stays in one worker and the
# longest start first: tests/support/xdist_folders.py); TEST_JOBS=1 runs in one process.
TEST_JOBS ?= 2

test: setup tf-config asl-validator browser ## Run every test (unit, terraform, local cloud integration, end to end); TEST_JOBS=1 for one process
	$(PY) -m pytest $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(TEST_JOBS) --no-loadscope-reorder) $(PYTEST_ARGS)

lint: setup ## ruff check + ruff format --check + import contracts (lint-imports) + terraform fmt -check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; \
	else echo "terraform not on PATH: skipped terraform fmt"; fi

checkov: ## Scan terraform/ with checkov (its own .venv-checkov, from scripts/requirements-checkov.txt)
	scripts/checkov.sh

fmt: setup ## Format Python (ruff) and Terraform (terraform fmt)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	@command -v terraform >/dev/null && terraform fmt -recursive terraform || true

etl: setup ## CIFAR-100 -> PNGs + .lst + manifest.json in data/cifar, uploaded to the data bucket (BUCKET= or terraform output)
	@bucket="$(or $(BUCKET),$(call tf_output,data_bucket))"; set -x; \
	$(PY) -m etl --source "$(SOURCE)" --out $(DATA_DIR) --labels $(LABELS) --target $(TARGET) $${bucket:+--upload s3://$$bucket/cifar}

eda: setup ## One HTML page on the ETL output in DATA_DIR: samples, counts, pixel statistics, train/test near-duplicates
	$(PY) -m etl.eda --data $(DATA_DIR) --out reports/eda.html $(EDA_ARGS)

package: setup ## Build the Lambda zips in build/lambdas (reproducible byte for byte)
	$(PY) lambdas/build.py --out build/lambdas

# TARGET=local reuses an artifact in build/training trained on the same data and recipe
# (training/reuse.py) unless FORCE=1.
train: setup ## Train the classifier (TARGET=local trains here, or reuses; FORCE=1 retrains; TARGET=aws: a SageMaker job) and record model_data_url
	$(PY) -m training $(if $(filter aws,$(TARGET)),sagemaker,local) --target $(TARGET) \
	  $(if $(and $(filter local,$(TARGET)),$(filter 1 yes true,$(FORCE))),--force)

deploy-model: setup ## Upload MODEL=path/to/model.tar.gz to the artifacts bucket and record it for terraform (no training; then make apply)
	@test -n "$(MODEL)" || { echo "usage: make deploy-model MODEL=build/training/<job>/model.tar.gz [TARGET=aws]"; exit 2; }
	$(PY) -m training deploy "$(MODEL)" --target $(TARGET)

classify: setup ## Run the workflow on IMAGES (files, folders or s3:// URIs; MODE=transform: the Batch Transform path) and print the results
	@test -n "$(IMAGES)" || { echo "usage: make classify IMAGES='a.png b.png' [TARGET=aws]"; exit 2; }
	$(PY) -m workflow.classify --target $(TARGET) --port $(LOCAL_PORT) $(if $(MODE),--mode $(MODE)) $(IMAGES)

monitor: setup ## Report (HTML + PNG plots) from the endpoint's captured data in reports/
	$(PY) -m monitoring report --target $(TARGET) --out reports/monitoring $(MONITOR_ARGS)

# Needs terraform (it renders the definitions as apply would) but no provider or cloud.
diagrams: setup ## Redraw docs/state-machines.md (Mermaid) from the rendered state machine definitions
	$(PY) -m deployment.asl_diagram --out docs/state-machines.md

plan: package tf-config ## terraform plan for TARGET
	$(TF) init -input=false -backend=false >/dev/null
	$(TF) plan $(TF_VARFILES)

# apply and destroy show resources done / planned (deployment/terraform_progress.py reads
# terraform's -json UI) and print terraform's errors as text; the exit status is terraform's.
TF_PROGRESS := $(PY) -m deployment.terraform_progress -chdir=terraform

apply: package tf-config ## terraform apply for TARGET, with progress (local: the local cloud must be up)
	$(TF) init -input=false >/dev/null
	$(TF_PROGRESS) apply $(TF_VARFILES)

destroy: setup tf-config ## terraform destroy for TARGET, with progress
	$(TF_PROGRESS) destroy $(TF_VARFILES)

local-up: setup ## Start the local cloud on 127.0.0.1:LOCAL_PORT (default 4566) in the background; LOCAL_IAM=off stops enforcing IAM
	$(PY) -m localcloud up --port $(LOCAL_PORT) $(if $(LOCAL_IAM),--iam $(LOCAL_IAM))

local-down: setup ## Stop the local cloud (its state is in memory and goes with it)
	$(PY) -m localcloud down --port $(LOCAL_PORT)

local-status: setup ## Is the local cloud running, and what is deployed to it
	$(PY) -m localcloud status --port $(LOCAL_PORT)

demo: setup tf-config ## The whole mission on the local cloud: ETL, train, apply, classify, monitor
	$(PY) -m workflow.demo --port $(LOCAL_PORT)

benchmark: setup ## Run every benchmark in benchmarks/ and write their results there
	@for b in benchmarks/bench_*.py; do m=$$(basename $$b .py); echo "== $$m"; $(PY) -m benchmarks.$$m || exit 1; done

# mutmut 3 ([tool.mutmut] in pyproject.toml) copies the code and tests to mutants/ and runs
# the covering tests against each mutant; results: benchmarks/results/mutation.md.
# MUTANTS= takes mutant name patterns for a part (MUTANTS='lambdas.common.*'): the whole run
# takes hours on a loaded 2-core machine. mutmut keeps verdicts in mutants/ between runs, but
# a change to the pytest arguments or the test selection in [tool.mutmut] resets them all.
mutation: setup ## Mutation testing (mutmut): the Lambda code, etl unpickle+manifest, monitoring aggregate+summary (drift), training/inference.py
	SCONES_SHARED_ARCHIVE="$${SCONES_SHARED_ARCHIVE:-$(abspath ../shared/data/cifar-100-scones-dev.tar.gz)}" \
	  $(VENV)/bin/mutmut run --max-children $(or $(JOBS),2) $(MUTANTS)
	$(VENV)/bin/mutmut results

# benchmarks/mutate_asl.py: one-change mutants of the state machines' Retry and Catch
# (terraform/templates/*.asl.json.tftpl, workflow.tf's retriers), each rendered by
# terraform and run against the rendered-definition, `terraform test` and deployed-workflow
# tests in a copy of HEAD; results: benchmarks/results/mutation.md and mutation_asl.json.
# ASL_MUTANTS= takes mutant ids or patterns ('single_image:*'), ASL_ARGS= more options
# (--list, --resume, --shard 1/2): every mutant takes hours, each deployed run starts a local cloud.
mutation-asl: setup asl-validator ## Mutation testing of the ASL templates' Retry and Catch choices (benchmarks/mutate_asl.py)
	nice -n 10 $(PY) -m benchmarks.mutate_asl $(foreach m,$(ASL_MUTANTS),--only '$(m)') $(ASL_ARGS)

clean: ## Remove build outputs (not the virtual environment)
	rm -rf build reports .pytest_cache .ruff_cache mutants
