# Two commands for a fresh clone: `make run` (API on SQLite, Swagger UI at /docs) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Pinned, hashed dependencies: `make lock` refreshes them from pyproject.toml.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --extra redis

.PHONY: install migrate run run-prod test lint format lock

$(INSTALLED): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# a dependency in pyproject.toml that the lock lacks: say so (run `make lock`)
	$(BIN)/python -m pip check
	touch $(INSTALLED)

install: $(INSTALLED)

migrate: install
	$(BIN)/alembic upgrade head

# development: one worker on 127.0.0.1:8000 (serve.py migrates first)
run: install
	$(BIN)/python -m serve

# production-like: WEB_CONCURRENCY workers (default 2) on 0.0.0.0:$PORT, migrated once
run-prod: install
	$(BIN)/python -m serve --host $${HOST:-0.0.0.0} --workers $${WEB_CONCURRENCY:-2}

test: install
	$(BIN)/pytest --cov

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Refresh both locks from pyproject.toml (needs the dev install for uv; the lead re-runs it
# after merging branches that add dependencies).
lock:
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv
	$(UV_COMPILE) -o $(LOCK)
	$(UV_COMPILE) --extra dev -o $(DEV_LOCK)
