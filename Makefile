# esap-batch: `make run` starts the whole system on its development defaults, `make test` runs every test.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_ARGS ?=
BENCH_ARGS ?=
WAIT_BENCH_ARGS ?=
READS_BENCH_ARGS ?=
DIRACX_BENCH_ARGS ?=
DIRAC_INSTALL_ARGS ?=
PYTHON ?=

.PHONY: help install run test test-unit lint typecheck schemas bench bench-sweep bench-wait bench-reads bench-diracx diracx-dev dirac-install clean up

help:
	@echo "make run        install, migrate, seed and start the four services (Ctrl-C stops them)"
	@echo "make test       the whole suite against the local PostgreSQL and RabbitMQ"
	@echo "make bench      the whole-chain benchmark (BENCH_ARGS='--jobs 2000 --rate 600 --concurrency 64')"
	@echo "make bench-wait the WAIT benchmark alone (WAIT_BENCH_ARGS='--jobs 1000 --rate 100')"
	@echo "make bench-reads the reads benchmark alone (READS_BENCH_ARGS='--jobs 1000000 --connections 50')"
	@echo "make bench-diracx  the monitor benchmark alone, against a real development DiracX"
	@echo "make bench-sweep the campaign benchmark alone (SWEEP_BENCH_ARGS='--children 10000')"
	@echo "make diracx-dev a development DiracX on loopback (installs it into var/diracx-venv once)"
	@echo "make dirac-install  classic DIRAC for the dirac backend, into var/dirac-venv (DIRAC_INSTALL_ARGS='--apt')"
	@echo "make lint       ruff, mypy and the import contracts (pyproject.toml's [tool.importlinter])"
	@echo "make schemas    rewrite the committed message schema snapshots"

# The interpreter of a new .venv: PYTHON if given, else the fastest CPython 3.11+ here (scripts/pick-python).
# An existing .venv keeps its own unless PYTHON is given.
install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@if [ -n "$(PYTHON)" ]; then $(UV) sync --frozen --python "$(PYTHON)"; \
	elif [ -d .venv ]; then $(UV) sync --frozen; \
	else interpreter=$$(scripts/pick-python) && echo "Python for .venv: $$interpreter" && \
	  $(UV) sync --frozen --python "$$interpreter"; fi

run: install
	$(UV) run --frozen python scripts/run.py

test: install
	$(UV) run --frozen pytest $(PYTEST_ARGS)

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy libs/messages/src libs/runtime/src libs/backends/src services/catalog/src services/gateway/src services/submitter/src services/monitor/src
	$(UV) run --frozen lint-imports

schemas: install
	$(UV) run --frozen python -m esap_messages.schemas

bench: install
	$(UV) run --frozen python bench/chain.py $(BENCH_ARGS)
	$(UV) run --frozen python bench/wait.py $(WAIT_BENCH_ARGS)
	$(UV) run --frozen python bench/reads.py $(READS_BENCH_ARGS)
	$(UV) run --frozen python bench/diracx_monitor.py $(DIRACX_BENCH_ARGS)
	$(UV) run --frozen python bench/sweep.py $(SWEEP_BENCH_ARGS)

bench-sweep: install
	$(UV) run --frozen python bench/sweep.py $(SWEEP_BENCH_ARGS)

bench-wait: install
	$(UV) run --frozen python bench/wait.py $(WAIT_BENCH_ARGS)

bench-reads: install
	$(UV) run --frozen python bench/reads.py $(READS_BENCH_ARGS)

bench-diracx: install
	$(UV) run --frozen python bench/diracx_monitor.py $(DIRACX_BENCH_ARGS)

diracx-dev: install
	bash scripts/diracx-dev.sh

dirac-install: install
	bash scripts/dirac-install.sh $(DIRAC_INSTALL_ARGS)

clean:
	rm -rf var test-artifacts .venv

up:
	COMPOSE_PROJECT_NAME=esap-batch docker compose -f deploy/compose.yaml up --build
