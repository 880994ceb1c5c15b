# Paperboy: every target sets up what it needs (venv, dependencies, schema) by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
export OPENBLAS_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help venv dev demo browser test lint format bench serve worker beat clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(BIN)/paperboy: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(BIN)/paperboy
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/paperboy ## Create .venv and install Paperboy

dev: $(VENV)/.dev-installed ## Install Paperboy with the dev tools

demo: $(BIN)/paperboy ## Run the whole daily job on sample pages into ./demo (fresh each time)
	$(BIN)/paperboy demo --dir demo

browser: ## Install Debian's headless Chromium for the browser tests (skipped when present)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium chromium-driver'" >&2; exit 1; fi; }

test: $(VENV)/.dev-installed browser ## Run the whole test suite (needs Redis and PostgreSQL on localhost)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(VENV)/.dev-installed ## Ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed ## Ruff fix and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev-installed ## Run every benchmark, JSON into bench/results/
	mkdir -p bench/results
	for b in bench/*.py; do n=$$(basename $$b .py); $(BIN)/python $$b > bench/results/$$n.json || exit 1; done

serve: $(BIN)/paperboy ## Development web server on :5000
	$(BIN)/flask --app service run --debug

worker: $(BIN)/paperboy ## A Celery worker (needs CELERY_BROKER_URL)
	$(BIN)/celery -A workers worker --loglevel=INFO

beat: $(BIN)/paperboy ## The one Celery beat (needs CELERY_BROKER_URL)
	$(BIN)/celery -A workers beat --loglevel=INFO

clean: ## Remove the venv, instance data and the demo folder
	rm -rf $(VENV) instance demo .pytest_cache .ruff_cache
