# The Makefile is the interface: every target bootstraps what it needs on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0

# A region only when nothing names one: not AWS_REGION, not AWS_DEFAULT_REGION, not the AWS
# profile's own region (aws and sam read those themselves; a default here would override the
# profile's). Tests and local mode then still have a region.
ifeq ($(strip $(AWS_REGION)$(AWS_DEFAULT_REGION)),)
ifeq ($(strip $(shell $(PYTHON) tools/profile_region.py 2>/dev/null)),)
export AWS_DEFAULT_REGION := eu-west-2
endif
endif

# Which samconfig.toml environment `make deploy` uses (default: batchcron-dev; prod: batchcron-prod).
CONFIG_ENV ?= default
IMAGE_URI ?=
OVERRIDES ?=
STACK ?=

REPLAY ?= 24h
NOW ?=
RUN_ARGS ?=
# pytest-xdist workers for the suites that are safe in parallel (unit, integration, fault
# injection: each worker has its own in-process moto); then permissions and e2e, one at a time (on
# two workers one e2e run in 5 failed: their local modes' timing shares the cores).
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
PARALLEL_SUITES := tests/unit tests/integration tests/realworld tests/fault_injection
# The calendar instants `make test` runs (year end, UK spring forward); `make calendar` runs all.
TEST_CALENDAR ?= 2026-12-31 23:59:30,2027-03-28 00:59:30
# ...and which suites it runs there (the unit suite: the scheduling maths, deadlines, DST and the
# CLI; `make calendar` runs unit, integration and fault injection, and CI stays under 25 minutes).
TEST_CALENDAR_SUITES ?= tests/unit
CALENDAR_SUITES ?=
AT ?=

.PHONY: help venv run test calendar test-calendar browser node-tools lint fmt typecheck validate pytest shell-test bench catalogue build build-check deploy deploy-guided image push-image stack-named run-job clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# checkov in a virtualenv of its own: its pinned dependencies conflict with .venv's.
CHECKOV_VENV ?= .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q 'checkov>=3.3,<3.4'
	@# an install cut short can leave the package recorded but its command gone: put it back
	test -x $@ || $(CHECKOV_VENV)/bin/python -m pip install -q --force-reinstall --no-deps 'checkov>=3.3,<3.4'

$(SAM):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q 'aws-sam-cli>=1.120'
	test -x $@ || $(SAM_VENV)/bin/python -m pip install -q --force-reinstall --no-deps 'aws-sam-cli>=1.120'

venv: $(STAMP) ## create .venv with everything installed

run: $(STAMP) ## run the whole system locally (embedded AWS, webhook, schedules, Slack sink) [NOW=2027-03-01T00:20:00Z]
	$(BIN)/batchcron local --replay $(REPLAY) $(if $(NOW),--now '$(NOW)') $(RUN_ARGS)

test: lint browser pytest shell-test build-check test-calendar ## everything CI runs

# libfaketime starts the clock at each instant and lets it run (tools/calendar.sh says more).
calendar: $(STAMP) ## unit, integration and fault suites at each calendar instant [AT="2027-03-28 00:59:30,..."]
	@CALENDAR_WORKERS='$(WORKERS)' CALENDAR_SUITES='$(CALENDAR_SUITES)' PYTEST='$(BIN)/pytest' tools/calendar.sh '$(AT)'

test-calendar: $(STAMP)
	@$(MAKE) --no-print-directory calendar AT='$(TEST_CALENDAR)' CALENDAR_SUITES='$(TEST_CALENDAR_SUITES)'

# The status page's browser test drives Debian's Chromium; without it (and not root) it skips.
browser: ## install chromium + chromium-driver for the browser test (root, when missing)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "no chromium/chromedriver and not root: the browser test will be skipped"; fi
	@$(MAKE) --no-print-directory node-tools

# The page audits' npm tools (axe-core for the browser test; Lighthouse runs through npx in the
# bench), installed under .node/ (git-ignored), pinned. Without npm the audits skip with a reason.
AXE_VERSION := 4.14.1
AXE := .node/node_modules/axe-core/axe.min.js
node-tools: ## install axe-core (npm) under .node/ for the browser test's accessibility audit
	@if [ -f $(AXE) ] && grep -q '"version": "$(AXE_VERSION)"' .node/node_modules/axe-core/package.json; then :; \
	elif command -v npm >/dev/null; then \
		echo "installing axe-core@$(AXE_VERSION) under .node/ (npm)"; \
		npm install --prefix .node --no-audit --no-fund --no-save axe-core@$(AXE_VERSION) >/dev/null; \
	else echo "no npm: the browser test's axe audit will be skipped"; fi

lint: $(STAMP) $(SAM) $(CHECKOV) ## fast static checks: ruff, mypy, import-linter, sam validate --lint, cfn-lint, checkov and parliament of the transformed template, shellcheck, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions/
	$(BIN)/lint-imports --no-cache
	$(SAM) validate --lint --template template.yaml
	$(SAM_VENV)/bin/python tools/sam_transform.py template.yaml .aws-sam/transformed.json
	$(SAM_VENV)/bin/cfn-lint --include-checks I -- template.yaml .aws-sam/transformed.json
	@# Every skipped check is in its resource's Metadata (checkov: skip:) with the reason.
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml -f .aws-sam/transformed.json
	$(BIN)/pytest -q -p no:cacheprovider tests/permissions/test_parliament.py tests/unit/test_checkov_skips.py
	$(BIN)/shellcheck -x batch_image/*.sh tools/*.sh
	@if [ -f batch_image/Dockerfile ]; then $(BIN)/hadolint batch_image/Dockerfile; fi

fmt: $(STAMP) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The parallel suites record every AWS call the functions make (tests/permissions/recorder.py);
# tests/permissions then checks those calls against each function's role.
CALL_RECORDINGS := .aws-sam/call-recordings
pytest: $(STAMP)
	rm -rf $(CALL_RECORDINGS)
	BATCHCRON_CALL_RECORDINGS='$(CALL_RECORDINGS)' $(BIN)/pytest -n $(WORKERS) $(PARALLEL_SUITES)
	BATCHCRON_CALL_RECORDINGS='$(CALL_RECORDINGS)' $(BIN)/pytest tests/permissions tests/e2e

shell-test: $(STAMP) ## bats tests for batch_image scripts
	@if ls tests/batch_image/*.bats >/dev/null 2>&1; then PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/bats tests/batch_image; fi

bench: $(STAMP) ## measure batchcron against its limits -> bench/results.md
	$(BIN)/python -m bench

# The functions read functions/jobs.compiled.json instead of parsing jobs.yaml while its recorded
# sha256 matches jobs.yaml (batchcron/catalogue/compiled.py); an invalid catalogue fails here.
catalogue: $(STAMP) ## validate functions/jobs.yaml and compile it to functions/jobs.compiled.json
	$(BIN)/python -m batchcron.catalogue.build functions/jobs.yaml

# sam build ships sources only, and /var/task is read-only: without bytecode in the package
# every cold start compiles every module it imports. unchecked-hash: valid whatever the zip does
# to file times. bench/results.md "Cold start" says what it changes.
BYTECODE = python3.12 -m compileall -q -j 0 --invalidation-mode unchecked-hash

build: $(SAM) catalogue ## sam build (needs python3.12 on PATH), then the functions' bytecode
	$(SAM) build
	@if python3.12 -c 'import sys' >/dev/null 2>&1 && ls -d .aws-sam/build/*Function >/dev/null 2>&1; then \
		$(BYTECODE) .aws-sam/build/*Function; \
	else echo "functions built without bytecode (no python3.12, or no .aws-sam/build/*Function)"; fi

# pyenv's python3.12 shim answers only when a 3.12 is among the selected versions (these machines
# select 3.11 alone): then build and build-check select the newest installed 3.12 beside it.
PY312_PYENV := $(shell python3.12 -c '' 2>/dev/null || { command -v pyenv >/dev/null && \
	v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12\.[0-9]+$$' | tail -1) && [ -n "$$v" ] && \
	echo "$$(pyenv version-name 2>/dev/null | tr -d '[:space:]'):$$v"; } || true)
ifneq ($(PY312_PYENV),)
build build-check: export PYENV_VERSION := $(PY312_PYENV)
endif

# In `make test` (CI): about 55 s with an empty cache, 27 s cached, measured on 2 shared cores.
build-check: $(SAM) catalogue ## sam build into .aws-sam/check (skipped, saying why, without a working python3.12)
	@if ! python3.12 -c 'import sys' >/dev/null 2>&1; then \
		echo "build-check skipped: no working python3.12 on PATH (sam build needs the Lambda runtime's Python)"; \
		exit 0; \
	fi; \
	start=$$(date +%s); \
	$(SAM) build --build-dir .aws-sam/check/build --cache-dir .aws-sam/check/cache --cached --parallel; \
	$(BYTECODE) .aws-sam/check/build/*Function; \
	test -f .aws-sam/check/build/DispatchFunction/jobs.compiled.json; \
	echo "build-check: sam build took $$(( $$(date +%s) - start )) s"

# Every deploy first checks, in seconds, what it needs (credentials, region, python3.12, no
# REPLACE_ME placeholders, the image in ECR when schedules are on, Lambda concurrency): a
# missing one fails before the build, naming its fix. `batchcron preflight --help` lists them.
PREFLIGHT ?= $(BIN)/batchcron preflight

deploy: $(STAMP) ## sam deploy samconfig's CONFIG_ENV [IMAGE_URI=<from make push-image>] [OVERRIDES="Key=Value ..."]
	$(PREFLIGHT) --config-env '$(CONFIG_ENV)' $(if $(IMAGE_URI),'ImageUri=$(IMAGE_URI)') $(OVERRIDES)
	@$(MAKE) --no-print-directory build
	@echo "deploying samconfig environment '$(CONFIG_ENV)' to $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),the AWS profile's region)"
	@overrides="$$($(PYTHON) tools/deploy_overrides.py samconfig.toml '$(CONFIG_ENV)' $(if $(IMAGE_URI),'ImageUri=$(IMAGE_URI)') $(OVERRIDES))"; \
	mapfile -t params <<<"$$overrides"; \
	set -x; $(SAM) deploy --config-env '$(CONFIG_ENV)' --parameter-overrides "$${params[@]}"

# samconfig.toml answers what `sam deploy --guided` would ask, but for the VPC: this asks for
# Subnets and SecurityGroupIds (offering the default VPC's), saves them, then deploys.
deploy-guided: $(STAMP) ## the first deploy: asks for the VPC's subnets and security groups (saved to samconfig.toml), then make deploy
	$(PREFLIGHT) --guided --config-env '$(CONFIG_ENV)'
	$(BIN)/python tools/guided_deploy.py samconfig.toml '$(CONFIG_ENV)'
	@$(MAKE) --no-print-directory deploy

IMAGE_NAME ?= batchcron-batch
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
SCRIPT ?= pipeline
SKIP_PUSH ?= true

image: ## build the batch image for linux/amd64 (needs Docker; not run in CI)
	docker build --platform linux/amd64 -t $(IMAGE_NAME):$(IMAGE_TAG) batch_image

push-image: stack-named image ## push the image to STACK's ImageRepositoryUri and print the ImageUri: make push-image STACK=batchcron-dev
	tools/push_image.sh '$(STACK)' '$(IMAGE_NAME):$(IMAGE_TAG)'

stack-named:
	@test -n "$(STACK)" || { echo "usage: make push-image STACK=<stack name> (the deployed stack whose ECR repository gets the image)"; exit 64; }

run-job: export REPOSITORY := $(REPOSITORY)
run-job: export BATCH_FILE_URL := $(SCRIPT)
run-job: export SKIP_PUSH := $(SKIP_PUSH)
run-job: export GIT_REF := $(GIT_REF)
run-job: ## run a batch script here: make run-job REPOSITORY=<name> SCRIPT=pipeline|builder (SKIP_PUSH=true)
	@test -n "$$REPOSITORY" || { echo "usage: make run-job REPOSITORY=<name> SCRIPT=pipeline|builder [GIT_REF=<ref>] [SKIP_PUSH=false]"; exit 64; }
	@dir="$$(mktemp -d "$${TMPDIR:-/tmp}/batchcron-run.XXXXXX")"; \
	echo "running $$BATCH_FILE_URL for $$REPOSITORY in $$dir (SKIP_PUSH=$$SKIP_PUSH)"; \
	cd "$$dir" && "$(CURDIR)/batch_image/fetch_and_run.sh"

clean: ## remove build output and virtualenvs
	rm -rf .aws-sam $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
