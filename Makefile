# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
PY    := .venv/bin/python
PYTEST_ARGS ?=
CHAOS_ARGS ?=
BENCH_ARGS ?=
VALIDATE_ARGS ?=

.PHONY: help venv setup up down status logs run test bench chaos validate

help:
	@echo "make run     install what is missing, start services + pipeline + dashboard (Ctrl-C stops all)"
	@echo "make test    install what is missing, run the whole suite on a throw-away stack"
	@echo "make bench   end-to-end load report in bench/results/ (BENCH_ARGS='--aircraft 2000 --duration 60')"
	@echo "make validate real OpenSky trajectories through the real stack: figures vs targets (VALIDATE_ARGS='--short')"
	@echo "make chaos   fault scenarios on throw-away stacks (CHAOS_ARGS='kafka-outage', '--quick', '--list')"
	@echo "make setup | up | down | status | logs   individual steps (see README)"

venv:
	@bash infra/bootstrap.sh

setup: venv
	@$(PY) -m infra setup

up: setup
	@$(PY) -m infra up

down: venv
	@$(PY) -m infra down

status: venv
	@$(PY) -m infra status

logs: venv
	@$(PY) -m infra logs

run: venv
	@$(PY) -m infra run

# The suite starts its own services on free ports in a temp dir and always stops them.
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

# Each scenario breaks a fresh throw-away stack (kill -9, services stopped) and counts what survived.
chaos: setup
	@$(PY) -m chaos $(CHAOS_ARGS)

# 2,000 / 10,000 / 20,000 aircraft, 10 minutes each, each on a fresh throw-away stack (~35 min).
bench: setup
	@$(PY) -m bench.e2e $(BENCH_ARGS)

# Real recorded traffic (fetched into the cache, never committed) replayed through the real stack.
validate: setup
	@$(PY) -m validation $(VALIDATE_ARGS)
