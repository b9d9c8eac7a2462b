# LinkFleet: `make up` starts the fleet, `make test` runs the suite. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
PYTHON    ?= python3
STAMP     := $(VENV)/.installed
# A YOURLS client of the e2e tests whose pins clash with ours (see pyproject.toml's dev list).
PYOURLS3  := pyourls3==1.0.1
#: The peer APIs' real client libraries from the npm registry, run unchanged by the tests.
CLIENTS   := tests/clients
CLIENTS_STAMP := $(CLIENTS)/node_modules/.installed
LINKFLEET := $(BIN)/linkfleet
# Empty means "2 for a new fleet, keep the count of a running one".
REPLICAS  ?=
PYTEST_ARGS ?=
# Test processes (pytest-xdist); each module stays on one of them (--dist loadscope), so a
# module's own fleet is started once, and each process starts the shared stock fleet once
# (tests/fixtures/fleets.py); the long modules go first (tests/conftest.py). Four on
# this 2-core machine: the fleet tests spend much of their time waiting on their fleets (with
# two processes a third of the CPU time idled; three took 7:03, four 6:11).
TEST_WORKERS ?= 4
BENCH_ARGS ?=
DRILLS_ARGS ?=

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT  := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: help up down status scale restart test lint bench drills loadtest system-deps bench-deps test-deps client-deps venv bytecode clean compose-test

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps '$(PYOURLS3)'
	@touch $@

venv: $(STAMP) ## Create .venv and install the Python packages

# pip byte-compiles the packages it installs but not an editable project, and where
# PYTHONDONTWRITEBYTECODE is set no process writes the cache either: every replica, worker
# and `linkfleet` command would compile the service again (about 0.2 CPU-s each).
bytecode: $(STAMP) ## Byte-compile the project's own modules, in parallel (only what changed)
	@$(BIN)/python -m compileall -q -j 0 service tests loadtests tools

system-deps: ## apt-get install nginx and redis-server when absent
	@missing=""; \
	 command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	 command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	 if [ -n "$$missing" ]; then \
	   echo "Installing$$missing with apt ..."; \
	   $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing; \
	 fi

bench-deps: system-deps ## Also wrk, the load generator of the nginx capacity probe
	@command -v wrk >/dev/null || { echo "Installing wrk with apt ..."; \
	  $(APT) update -qq && $(APT) install -y -qq wrk; }

$(CLIENTS_STAMP): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@command -v npm >/dev/null || { echo "Installing nodejs and npm with apt ..."; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends nodejs npm; }
	cd $(CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

client-deps: $(CLIENTS_STAMP) ## npm ci of the client libraries the tests drive (once per lock file)

test-deps: bench-deps client-deps ## Also Debian's Chromium and the npm clients for the tests
	@[ -x /usr/bin/chromium ] || { echo "Installing chromium with apt ..."; \
	  $(APT) update -qq && $(APT) install -y -qq chromium; }

up: system-deps $(STAMP) bytecode ## Start nginx + replicas + Redis on http://127.0.0.1:8080 (REPLICAS=N)
	@$(LINKFLEET) fleet up $(if $(REPLICAS),--replicas $(REPLICAS))

down: ## Stop the fleet
	@[ ! -x $(LINKFLEET) ] || $(LINKFLEET) fleet down

status: $(STAMP) ## Each replica with its pid, port and health
	@$(LINKFLEET) fleet status

scale: $(STAMP) ## Add or remove replicas live: make scale REPLICAS=4
	@[ -n "$(REPLICAS)" ] || { echo "usage: make scale REPLICAS=N"; exit 2; }
	@$(LINKFLEET) fleet scale $(REPLICAS)

restart: $(STAMP) ## Rolling restart of the replicas, one at a time, no failed requests
	@$(LINKFLEET) fleet restart

# PYTHONDONTWRITEBYTECODE emptied: pytest keeps its rewritten test modules only where
# bytecode may be written, or each of its processes rewrites all of them (1.4 CPU-s each).
test: test-deps $(STAMP) bytecode ## Run the whole test suite (real Redis, nginx, SQLite, PostgreSQL, Chromium)
	@PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -m "not bench" -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
	   --durations=15 --junitxml=.run/test-report.xml $(PYTEST_ARGS); rc=$$?; \
	 if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating that as a failure"; exit 1; fi; \
	 exit $$rc

bench: bench-deps $(STAMP) bytecode ## Scaling benchmark (root, cgroups); results in loadtests/results/ (BENCH_ARGS=--quick)
	$(BIN)/python loadtests/scaling.py $(BENCH_ARGS)
	$(BIN)/pytest -m "" -s -q tests/api/test_import_scale.py

drills: system-deps $(STAMP) bytecode ## Reliability drills on a throwaway fleet; writes docs/RELIABILITY.md's table
	$(BIN)/python -m loadtests.drills $(DRILLS_ARGS)

loadtest: $(STAMP) ## Locust web UI on http://127.0.0.1:8089 against the running fleet (make up first)
	$(BIN)/python loadtests/seed.py --links 10000 --env-file .run/bench.env
	source .run/bench.env && $(BIN)/locust -f loadtests/locustfile.py \
	  --host http://127.0.0.1:$${LINKFLEET_PORT:-8080} --web-host 127.0.0.1 --web-port 8089 MixedUser

compose-test: $(STAMP) ## docker-compose.yml for real with podman: 3 replicas, scale to 5, Locust (root)
	$(BIN)/python deploy/compose_test.py

lint: $(STAMP) ## ruff, mypy, bandit and pip-audit (when its database can be reached)
	$(BIN)/ruff check service tests loadtests tools
	$(BIN)/ruff format --check service tests loadtests tools
	$(BIN)/mypy
	$(BIN)/bandit -r service -c pyproject.toml -q
	$(BIN)/python tools/audit_deps.py

clean: down ## Remove runtime state (.run/) — the fleet's database included
	rm -rf .run
