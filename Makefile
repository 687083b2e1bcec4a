# Drawdown: `make run` serves the API with demo data on SQLite; `make test` runs the whole suite
# on SQLite and PostgreSQL. Both set up everything they need on a fresh machine.

PYTHON ?= python3
UV := $(PYTHON) -m uv
export DRAWDOWN_DATABASE_URL ?= sqlite:///var/drawdown.db

.PHONY: run test setup serve migrate demo lint clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

run: setup
	$(UV) run drawdown migrate
	$(UV) run drawdown demo
	$(UV) run drawdown serve

test: setup
	$(UV) run pytest

migrate: setup
	$(UV) run drawdown migrate

clean:
	rm -rf .venv var .pytest_cache .hypothesis
