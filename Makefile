# Two commands: `make run` (set up, index the bundled corpus, start the web chat) and
# `make test` (set up, then every check and test). Both are idempotent.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: setup browser index run ask test lint bench eval eval-xquad clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch that lies on these machines; an unpinned torch pulls CUDA
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian's chromium for the browser tests (Playwright cannot download its own here)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

index: setup
	$(VENV)/bin/rag index

run: index
	$(VENV)/bin/rag serve

ask: index
	$(VENV)/bin/rag ask "What did Russia demand as conditions for a lasting peace?"

lint: setup
	$(VENV)/bin/ruff check rag index eval bench ui tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup browser lint
	$(VENV)/bin/pytest -q

eval: index
	$(VENV)/bin/rag eval

# XQuAD is not in the repository: download xquad.en.json from github.com/google-deepmind/xquad
# (CC BY-SA 4.0) and name it with XQUAD=PATH; this workspace keeps a copy beside the repository
XQUAD ?= ../shared/datasets/xquad-en/xquad.en.json
eval-xquad: setup
	@test -f "$(XQUAD)" || { echo "no SQuAD file at $(XQUAD): download xquad.en.json from https://github.com/google-deepmind/xquad and pass XQUAD=PATH" >&2; exit 2; }
	$(VENV)/bin/rag eval --squad "$(XQUAD)" --unanswerable-share 0.2 --seeds 0

bench: setup
	$(VENV)/bin/rag bench

clean:
	rm -rf .rag .pytest_cache .mypy_cache .ruff_cache
