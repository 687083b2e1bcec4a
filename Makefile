# Drawdown: `make run` serves the API with demo data on SQLite; `make test` runs the whole suite
# on SQLite and PostgreSQL. Both set up everything they need on a fresh machine.

PYTHON ?= python3
UV := $(PYTHON) -m uv
export DRAWDOWN_DATABASE_URL ?= sqlite:///var/drawdown.db

.PHONY: run test bench setup serve migrate demo lint clean

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

# Ingestion benchmark on both backends (docs/performance.md); PostgreSQL from DRAWDOWN_BENCH_POSTGRES_URL,
# default postgresql://postgres@127.0.0.1:5432/test. MEMORY_EVENTS=0 skips the 1,000,000-event RSS run.
MEMORY_EVENTS ?= 1000000
bench: setup
	$(UV) run drawdown bench ingest --backend sqlite --memory-events $(MEMORY_EVENTS)
	$(UV) run drawdown bench ingest --backend postgresql --memory-events $(MEMORY_EVENTS)

migrate: setup
	$(UV) run drawdown migrate

clean:
	rm -rf .venv var .pytest_cache .hypothesis
