# Drawdown: `make run` serves the API with demo data on SQLite; `make test` runs the whole suite
# on SQLite and PostgreSQL. Both set up everything they need on a fresh machine.

PYTHON ?= python3
UV := $(PYTHON) -m uv
export DRAWDOWN_DATABASE_URL ?= sqlite:///var/drawdown.db

.PHONY: run test bench bench-job setup serve migrate demo lint clean chromium

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

run: setup
	$(UV) run drawdown migrate
	$(UV) run drawdown demo
	$(UV) run drawdown serve

test: setup lint chromium
	$(UV) run pytest

# The payment pages' browser tests drive Debian's chromium (tests/payments/test_pages_browser.py).
# Installed when absent; if it cannot be (no apt, no root), those tests skip locally and fail under CI=true.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "chromium could not be installed: the browser tests will skip (and fail under CI=true)"

# Ruff (style, imports, likely bugs) over code and tests; mypy over the package (strict on drawdown.core).
lint: setup
	$(UV) run ruff check src tests
	$(UV) run mypy src

# Ingestion benchmark on both backends (docs/performance.md); PostgreSQL from DRAWDOWN_BENCH_POSTGRES_URL,
# default postgresql://postgres@127.0.0.1:5432/test. MEMORY_EVENTS=0 skips the 1,000,000-event RSS run.
MEMORY_EVENTS ?= 1000000
bench: setup
	$(UV) run drawdown bench ingest --backend sqlite --memory-events $(MEMORY_EVENTS)
	$(UV) run drawdown bench ingest --backend postgresql --memory-events $(MEMORY_EVENTS)

# The billing job with nothing due, at 100 and 100,000 customers, on both backends (docs/performance.md).
bench-job: setup
	$(UV) run drawdown bench job --backend sqlite
	$(UV) run drawdown bench job --backend postgresql

migrate: setup
	$(UV) run drawdown migrate

# Serve the API on the configured database without demo data.
serve: migrate
	$(UV) run drawdown serve

# Add the demo customers, products and usage to the configured database.
demo: migrate
	$(UV) run drawdown demo

clean:
	rm -rf .venv var .pytest_cache .hypothesis .mypy_cache .ruff_cache
