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
export AWS_DEFAULT_REGION ?= eu-west-2
export SAM_CLI_TELEMETRY := 0

REPLAY ?= 24h
RUN_ARGS ?=

.PHONY: help venv run test browser lint fmt typecheck validate pytest shell-test bench build deploy image push-image run-job clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(SAM):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q 'aws-sam-cli>=1.120'

venv: $(STAMP) ## create .venv with everything installed

run: $(STAMP) ## run the whole system locally (embedded AWS, webhook, schedules, Slack sink)
	$(BIN)/batchcron local --replay $(REPLAY) $(RUN_ARGS)

test: lint browser pytest shell-test ## everything CI runs

# The status page's browser test drives Debian's Chromium; without it (and not root) it skips.
browser: ## install chromium + chromium-driver for the browser test (root, when missing)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "no chromium/chromedriver and not root: the browser test will be skipped"; fi

lint: $(STAMP) $(SAM) ## fast static checks: ruff, mypy, sam validate --lint, shellcheck, hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions/
	$(SAM) validate --lint --template template.yaml
	@if ls batch_image/*.sh >/dev/null 2>&1; then $(BIN)/shellcheck -x batch_image/*.sh; fi
	@if [ -f batch_image/Dockerfile ]; then $(BIN)/hadolint batch_image/Dockerfile; fi

fmt: $(STAMP) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

pytest: $(STAMP)
	$(BIN)/pytest

shell-test: $(STAMP) ## bats tests for batch_image scripts
	@if ls tests/batch_image/*.bats >/dev/null 2>&1; then PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/bats tests/batch_image; fi

bench: $(STAMP) ## measure batchcron against its limits -> bench/results.md
	$(BIN)/python -m bench

build: $(SAM) ## sam build (needs python3.12 on PATH)
	$(SAM) build

deploy: build ## sam deploy (guided the first time)
	$(SAM) deploy $(if $(wildcard samconfig.toml),,--guided)

IMAGE_NAME ?= batchcron-batch
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
ECR_REGISTRY ?=
SCRIPT ?= pipeline
SKIP_PUSH ?= true

image: ## build the batch image for linux/amd64 (needs Docker; not run in CI)
	docker build --platform linux/amd64 -t $(IMAGE_NAME):$(IMAGE_TAG) batch_image

push-image: image ## push the batch image to ECR_REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com
	@test -n "$(ECR_REGISTRY)" || { echo "set ECR_REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com"; exit 1; }
	aws ecr get-login-password --region $(AWS_DEFAULT_REGION) | docker login --username AWS --password-stdin $(ECR_REGISTRY)
	docker tag $(IMAGE_NAME):$(IMAGE_TAG) $(ECR_REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)
	docker push $(ECR_REGISTRY)/$(IMAGE_NAME):$(IMAGE_TAG)

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
