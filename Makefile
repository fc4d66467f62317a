# shop-clip: `make demo` runs the demo store, `make test` runs the tests. Both set up everything.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-core test-alt-store test-oscar-store test-replica-store test-browser chromium bench lint services stop clean

$(STAMP): pyproject.toml
	@echo "installing shop-clip and its packages into $(VENV) (about 2 minutes the first time; quiet meanwhile)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch 2.13.0 first: the CPU build on this machine's disk (any newer pin would pull CUDA wheels).
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev,server]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) manage.py demo

# One run per store: the demo store (its suite, then its pages in Chromium), a differently shaped
# store (UUID keys, related photos, many-to-many categories), a django-oscar shop, and the demo
# store reading from a streaming replica; each with its own test database and Celery worker.
test: $(STAMP) chromium
	$(PY) -m pytest tests
	$(PY) -m pytest -o addopts="-ra" tests/browser
	$(PY) -m pytest -o addopts="-ra" --ds=tests.alt_store.settings tests/alt_store
	$(PY) -m pytest -o addopts="-ra" --ds=tests.oscar_store.settings tests/oscar_store
	$(PY) -m pytest -o addopts="-ra" --ds=tests.replica_store.settings tests/replica_store

test-replica-store: $(STAMP)
	$(PY) -m pytest -o addopts="-ra" --ds=tests.replica_store.settings tests/replica_store

# Debian's chromium for the browser tests (Playwright's own browser download cannot work here).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test-browser: $(STAMP) chromium
	$(PY) -m pytest -o addopts="-ra" tests/browser

test-oscar-store: $(STAMP)
	$(PY) -m pytest -o addopts="-ra" --ds=tests.oscar_store.settings tests/oscar_store

bench: $(STAMP)
	$(PY) bench/indexing.py
	$(PY) bench/search.py

lint: $(STAMP)
	$(VENV)/bin/ruff check shop_clip demo_project tests bench

services: $(STAMP)
	$(PY) -m demo_project.services start

stop:
	$(PY) -m demo_project.services stop

clean: stop
	rm -rf var
