"""The ``drawdown`` command: serve, migrate, seed the demo, manage accounts and API keys."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from drawdown.cli_keys import ACCOUNT_OPTION, ENVIRONMENT_OPTION, accounts_cli, keys, scope_of
from drawdown.settings import Settings

if TYPE_CHECKING:
    from rich.table import Table

    from drawdown.reports.models import SubjectPage

app = typer.Typer(help="Drawdown: real-time prepaid usage billing with Credyt's API.", no_args_is_help=True)
app.add_typer(keys, name="api-keys")
app.add_typer(accounts_cli, name="accounts")
jobs = typer.Typer(help="Scheduled work", no_args_is_help=True)
app.add_typer(jobs, name="jobs")
report = typer.Typer(help="Reports", no_args_is_help=True)
app.add_typer(report, name="report")
bench = typer.Typer(help="Benchmarks", no_args_is_help=True)
app.add_typer(bench, name="bench")
console = Console()


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(message: str) -> NoReturn:
    """One line on stderr with the cause and what to do, then a non-zero exit."""
    typer.echo(f"drawdown: {message}", err=True)
    raise typer.Exit(1)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _startup(debug: bool) -> Iterator[None]:
    """Known start-up failures said in one line; the traceback only with --debug or DRAWDOWN_LOG_LEVEL=debug."""
    from alembic.util.exc import CommandError
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from drawdown.db.engine import StartupProblem, is_read_only

    debug = debug or os.environ.get("DRAWDOWN_LOG_LEVEL", "").lower() == "debug"
    try:
        yield
    except Exception as exc:
        if debug:
            raise
        hint = " (rerun with --debug for the traceback)"
        if isinstance(exc, StartupProblem):
            _fail(str(exc))
        if isinstance(exc, ValidationError):
            errors = "; ".join(f"DRAWDOWN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            _fail(f"invalid setting: {errors}")
        if isinstance(exc, ArgumentError | NoSuchModuleError):
            _fail(f"DRAWDOWN_DATABASE_URL is not a usable database URL ({_first_line(exc)}); use sqlite:///path "
                  "or postgresql://user@host:5432/db")
        if isinstance(exc, DBAPIError) and is_read_only(exc):
            _fail(f"the database is read-only ({_first_line(exc)}); make it writable or point "
                  "DRAWDOWN_DATABASE_URL at the primary")
        if isinstance(exc, DBAPIError) and "connect" in _first_line(exc).lower():
            _fail(f"cannot connect to the database ({_first_line(exc)}); check DRAWDOWN_DATABASE_URL and that "
                  "the database server is running")
        if isinstance(exc, DBAPIError | CommandError):
            _fail(f"migration or start-up query failed: {_first_line(exc)}{hint}")
        if isinstance(exc, OSError):
            _fail(f"{_first_line(exc)}{hint}")
        raise


DEBUG = typer.Option(False, "--debug", help="Show the full traceback of a start-up failure")


@app.command()
def migrate(debug: bool = DEBUG) -> None:
    """Bring the database schema up to date (creating a new SQLite file and its directory if needed)."""
    from drawdown.db.engine import check_sqlite_writable
    from drawdown.db.migrate import upgrade

    with _startup(debug):
        settings = Settings()
        check_sqlite_writable(settings.database_url)
        upgrade(settings.database_url, create_directory=True)
    console.print(f"[green]migrated[/] {settings.database_url}")


def _connection_cap(settings: Settings) -> int:
    """DRAWDOWN_MAX_CONNECTIONS (per worker), kept under the file-descriptor limit so accept() never fails."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Room for the pool, logs and the listening socket beside the client sockets.
    wanted = settings.max_connections + 64
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    cap = settings.max_connections
    if soft != resource.RLIM_INFINITY and cap > soft - 64:
        cap = max(1, soft - 64)
        typer.echo(f"drawdown: DRAWDOWN_MAX_CONNECTIONS lowered to {cap} (file-descriptor limit {soft})", err=True)
    return cap


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address"),
    port: int = typer.Option(None, help="Port"),
    workers: int = typer.Option(None, help="Server processes (default DRAWDOWN_WORKERS, 1)"),
    debug: bool = DEBUG,
) -> None:
    """Migrate, then serve the API."""
    import uvicorn

    from drawdown.api.app import create_app
    from drawdown.api.connections import HeaderTimeoutProtocol
    from drawdown.apikeys import service as api_keys
    from drawdown.core.scopes import DEFAULT_LIVE
    from drawdown.db.engine import check_sqlite_writable, check_writable, make_engine, write
    from drawdown.db.migrate import upgrade

    with _startup(debug):
        settings = Settings()
        workers = workers or settings.workers
        # No directory is created here: a mistyped path must not become a new, empty ledger.
        check_sqlite_writable(settings.database_url)
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url, settings.sqlite_synchronous)
        check_writable(engine)
        if settings.bootstrap_api_key:
            with write(engine) as conn:
                api_keys.create(conn, DEFAULT_LIVE, "bootstrap", _now(), settings.bootstrap_api_key)
        cap = _connection_cap(settings)
    if settings.job_interval_seconds > 0:
        from drawdown.billing.job import start_loop

        start_loop(engine, _now, settings.job_interval_seconds, settings.overdraft_limit(), settings.public_url)
    # Reconciliation of pending top-ups, expiry of payment links, refunds and auto top-ups (docs/payments.md).
    from drawdown.payments.worker import start as start_payments

    start_payments(engine, settings, _now)
    # Webhooks out: fan-out of the outbox and signed deliveries with retries (docs/webhooks.md).
    from drawdown.webhooks.worker import start as start_webhooks

    start_webhooks(engine, settings, _now)
    bind_host = host or settings.host
    bind_port = port or settings.port
    if workers > 1:
        # Each worker process builds its own application (engine, pool, batching writer).
        uvicorn.run(
            "drawdown.api.app:app_from_environment",
            factory=True,
            workers=workers,
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level,
            timeout_keep_alive=settings.keep_alive_seconds,
            limit_concurrency=cap,
            backlog=settings.backlog,
            # A class pickles by reference into each worker, which reads DRAWDOWN_HEADER_TIMEOUT_SECONDS itself.
            http=HeaderTimeoutProtocol,
        )
    else:
        uvicorn.run(
            create_app(settings, engine),
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level,
            timeout_keep_alive=settings.keep_alive_seconds,
            limit_concurrency=cap,
            backlog=settings.backlog,
            http=HeaderTimeoutProtocol,  # closes sockets whose request headers do not arrive in time
        )


@jobs.command("run")
def run_jobs() -> None:
    """Run the billing job once: fixed fees due, recurring usage periods ended."""
    from drawdown.billing.job import run_due
    from drawdown.db.engine import make_engine
    from drawdown.db.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url)
    report = run_due(make_engine(settings.database_url), _now(), settings.overdraft_limit(), settings.public_url)
    console.print(
        f"fixed fees charged: {report.fixed_charged}, usage periods charged: {report.usage_charged}, "
        f"subscriptions needing payment: {len(report.action_required)}"
    )


@report.command("revenue")
def revenue_report(
    start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD (UTC)"),
    end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD (UTC, inclusive)"),
    granularity: str = typer.Option("month", help="day or month"),
    account: str | None = ACCOUNT_OPTION,
    environment: str = ENVIRONMENT_OPTION,
) -> None:
    """Revenue recognised, marketing cost and breakage per period and grant purpose, in one scope."""
    from datetime import UTC, date, timedelta

    from rich.table import Table

    from drawdown.db.engine import make_engine, read
    from drawdown.reports import revenue as recognition

    if granularity not in ("day", "month"):
        raise typer.BadParameter("day or month", param_hint="--granularity")
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = Settings()
    lo = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hi = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    with read(make_engine(settings.database_url)) as conn:
        report = recognition.report(conn, scope_of(conn, account, environment), lo, hi, granularity)
    table = Table("period", "asset", "purpose", "consumed", "revenue", "cost", "expired", "breakage", "currency")
    for row in report.items:
        amounts = (row.consumed, row.revenue, row.cost, row.expired, row.breakage)
        table.add_row(row.period, row.asset, row.purpose, *(str(a) for a in amounts), row.currency or "")
    console.print(table)
    for total in report.totals:
        console.print(
            f"{total.currency}: revenue {total.revenue}, marketing cost {total.marketing_cost}, "
            f"breakage {total.breakage}"
        )


@report.command("margins")
def margins_report(
    by: str = typer.Option("customer", "--by", help="customer, product, vendor or subject"),
    start: str = typer.Option(None, "--from", help="First day, YYYY-MM-DD (UTC)"),
    end: str = typer.Option(None, "--to", help="Last day, YYYY-MM-DD (UTC, inclusive)"),
    chart: str = typer.Option(None, "--chart", help="Also write revenue, cost and net over time to this SVG file"),
    order: str = typer.Option("revenue", "--order", help="subjects: revenue (highest first) or margin (lowest first)"),
    top: int = typer.Option(50, "--top", min=1, max=500, help="subjects: how many to show"),
    account: str | None = ACCOUNT_OPTION,
    environment: str = ENVIRONMENT_OPTION,
) -> None:
    """Revenue, cost and margin (USD) per customer, product, vendor or subject, in one scope."""
    from datetime import date
    from pathlib import Path

    from rich.table import Table

    from drawdown.db.engine import make_engine, read
    from drawdown.reports import profitability, subjects
    from drawdown.reports.charts import svg_days

    if by not in ("customer", "product", "vendor", "subject"):
        raise typer.BadParameter("customer, product, vendor or subject", param_hint="--by")
    if order not in ("revenue", "margin"):
        raise typer.BadParameter("revenue or margin", param_hint="--order")
    for value, hint in ((start, "--from"), (end, "--to")):
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint=hint) from None
    settings = Settings()
    with read(make_engine(settings.database_url)) as conn:
        scope = scope_of(conn, account, environment)
        if by == "subject":  # too many to list all: the top ones, ranked, and the summary of all
            console.print(_subjects_table(subjects.ranked(conn, scope, None, start, end, order, 0, top)))
        else:
            table = Table(by, "revenue", "cost", "net", "margin %", title="USD")
            for row in profitability.by(conn, scope, by, start, end):
                f = row.figures
                table.add_row(row.key or "(none)", *(str(v) for v in (f.revenue, f.cost, f.net, f.margin)))
            console.print(table)
        points = profitability.over_time(conn, scope, start, end) if chart else []
    if chart:
        Path(chart).write_text(svg_days(points, f"Revenue, cost and net (USD) {start or ''} – {end or ''}"))
        console.print(f"chart written to {chart}")


def _subjects_table(page: SubjectPage) -> Table:
    """The ranked subjects of ``report margins --by subject`` and the summary of all in range."""
    from rich.table import Table

    table = Table("customer", "subject", "events", "revenue", "cost", "net", "margin %",
                  title=f"USD: {len(page.items)} of {page.total_count} subjects")
    for s in page.items:
        f = s.figures
        table.add_row(s.customer_id, s.subject, str(s.events), *(str(v) for v in (f.revenue, f.cost, f.net, f.margin)))
    f = page.summary
    table.add_row("all", "", str(page.events), *(str(v) for v in (f.revenue, f.cost, f.net, f.margin)))
    return table


@bench.command("stats")
def bench_stats(
    backend: str = typer.Option("sqlite", help="sqlite or postgresql"),
    events: int = typer.Option(10_000_000, help="Usage events in the history"),
    customers: int = typer.Option(1_000, help="Customers"),
    days: int = typer.Option(365, help="Days of history"),
) -> None:
    """Time the profitability endpoints over a large generated history (writes var/bench/stats-*.json)."""
    from pathlib import Path

    from rich.table import Table

    from drawdown.bench.stats import run

    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter("sqlite or postgresql", param_hint="--backend")
    result = run(backend, events, customers, days, Path("var/bench"))
    table = Table(
        "endpoint",
        "p50 ms",
        "p99 ms",
        "max ms",
        title=f"{backend}: {events:,} events, {result['rollup_rows']:,} rollup rows, {result['cores']} cores",
    )
    for name, t in result["endpoints"].items():
        table.add_row(name, str(t["p50_ms"]), str(t["p99_ms"]), str(t["max_ms"]))
    console.print(table)


@bench.command("job")
def bench_job(backend: str = typer.Option("sqlite", help="sqlite or postgresql")) -> None:
    """The billing job with nothing due, at 100 and at 100,000 customers (writes var/bench/job-*.json)."""
    from pathlib import Path

    from rich.table import Table

    from drawdown.bench.job import run

    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter("sqlite or postgresql", param_hint="--backend")
    result = run(backend, Path("var/bench"), lambda name: console.print(f"{backend}: building {name}"))
    table = Table(
        "customers", "build s", "run_due p50 ms", "min ms", "max ms", "old first query ms", "old visits",
        title=f"{backend}: billing job, nothing due, median of {result['runs']} runs, {result['cores']} cores",
    )
    for w in result["worlds"]:
        table.add_row(*(f"{w[k]:,}" for k in ("customers", "build_s", "median_ms", "min_ms", "max_ms",
                                                "old_selection_ms", "old_visits")))
    console.print(table)


@bench.command("ingest")
def bench_ingest(
    backend: str = typer.Option("sqlite", help="sqlite or postgresql"),
    events: int = typer.Option(20_000, help="Events per engine measurement"),
    memory_events: int = typer.Option(0, help="Events for the memory run (1,000,000 for the full check; 0 skips it)"),
    http_seconds: float = typer.Option(5, help="Seconds of load per HTTP measure (single events, then /health)"),
) -> None:
    """Ingestion throughput against the database's ceiling, naive and HTTP (writes var/bench/ingest-*.json)."""
    from pathlib import Path

    from rich.progress import Progress
    from rich.table import Table

    from drawdown.bench.http import rows as http_rows
    from drawdown.bench.ingest import PHASES, run

    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter("sqlite or postgresql", param_hint="--backend")
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{backend}: building the worlds", total=len(PHASES) - (0 if memory_events else 1))

        def step(name: str) -> None:
            progress.update(task, description=f"{backend}: {name}", advance=0 if name == PHASES[0] else 1)

        r = run(backend, events, Path("var/bench"), memory_events, step, http_seconds)
    table = Table("measure", "value", title=f"{backend}, {r['cores']} cores")
    table.add_row("ceiling (events/s)", str(r["ceiling_events_per_s"]))
    table.add_row("naive (events/s)", str(r["naive_events_per_s"]))
    for k, v in r["engine_events_per_s"].items():
        table.add_row(f"engine, {k} customers (events/s)", str(v))
    best = r["engine_events_per_s"]["100"]
    table.add_row("engine/ceiling (100 customers)", f"{best / r['ceiling_events_per_s']:.2f}")
    table.add_row("engine/naive (100 customers)", f"{best / r['naive_events_per_s']:.1f}")
    for name in ("rows", "bytes"):
        for who, by_table in r[f"{name}_per_event"].items():
            table.add_row(f"{name} per event, {who}", ", ".join(f"{t} {v}" for t, v in by_table.items()))
    for measure, value in [*http_rows(r["http"]), *http_rows(r["http_2_workers"], "HTTP, 2 workers")]:
        table.add_row(measure, value)
    _hold_rows(table, r["holds"])
    if "memory" in r:
        m = r["memory"]
        table.add_row(f"memory run, {m['events']:,} events (events/s)", str(m["events_per_s"]))
        table.add_row("peak RSS at 100k / at the end (KB)", f"{m['peak_rss_kb_at_100k']} / {m['peak_rss_kb_at_end']}")
        table.add_row("RSS end / 100k", f"{m['peak_rss_kb_at_end'] / m['peak_rss_kb_at_100k']:.2f}")
        table.add_row(f"bytes per event after {m['events']:,}", str(m["bytes_per_event"]["total"]))
    console.print(table)


@bench.command("http")
def bench_http(
    backend: str = typer.Option("both", help="sqlite, postgresql or both"),
    seconds: float = typer.Option(5, help="Seconds of load per measure"),
    rounds: int = typer.Option(3, help="Single events, /health and batched, alternated this many times"),
    samples: int = typer.Option(2000, help="Single events timed one at a time (low load)"),
    workers: int = typer.Option(1, help="Server processes"),
    per: int = typer.Option(100, help="Events per request in the batched measure"),
) -> None:
    """Single-event HTTP against the same server's /health, batched events/s and latency (var/bench/http-*.json)."""
    from rich.table import Table

    from drawdown.bench.http import rows, run

    for name in ("sqlite", "postgresql") if backend == "both" else (backend,):
        if name not in ("sqlite", "postgresql"):
            raise typer.BadParameter("sqlite, postgresql or both", param_hint="--backend")
        r = run(name, seconds, rounds, samples, workers, per)
        table = Table("measure", "value", title=f"{name}, {r['cores']} cores, HTTP")
        for measure, value in rows(r):
            table.add_row(measure, value)
        console.print(table)


def _hold_rows(table: Any, h: dict[str, Any]) -> None:
    for name in ("event", "hold_create", "hold_release"):
        table.add_row(f"HTTP {name.replace('_', ' ')} p50 / p99 / p99.9 (ms)",
                      " / ".join(str(v) for v in h[f"{name}_ms"].values()))
    table.add_row("hold create p99 / event p99", str(h["hold_create_p99_over_event_p99"]))
    table.add_row("hold release p99 / event p99", str(h["hold_release_p99_over_event_p99"]))


@bench.command("holds")
def bench_holds(
    backend: str = typer.Option("sqlite", help="sqlite or postgresql"),
    samples: int = typer.Option(500, help="Events, hold placements and releases timed (interleaved)"),
) -> None:
    """Hold create and release latency next to a single event's (writes var/bench/holds-*.json)."""
    import json
    from pathlib import Path

    from rich.table import Table

    from drawdown.bench.holds import hold_phase
    from drawdown.bench.world import build_world, fresh_database
    from drawdown.db.migrate import upgrade

    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter("sqlite or postgresql", param_hint="--backend")
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    url = fresh_database(backend, out, 100)
    upgrade(url)
    r = hold_phase(url, build_world(url, 100), samples)
    (out / f"holds-{backend}.json").write_text(json.dumps(r, indent=2))
    table = Table("measure", "value", title=f"{backend}, {samples} samples each")
    _hold_rows(table, r)
    console.print(table)


@app.command()
def demo() -> None:
    """Seed demo data (idempotent) and print an API key and curl lines to try."""
    from drawdown.demo import seed

    settings = Settings()
    world = seed(settings)
    base, key = f"http://{settings.host}:{settings.port}", f"-H 'X-CREDYT-API-KEY: {world.secret}'"
    console.print("[bold]Demo ready[/], in the test environment. Its test API key (shown once):")
    typer.echo(world.secret)
    console.print(
        "\nTwo customers: [bold]demo-customer[/] has no overdraft limit (the default, as Credyt's: usage always "
        "bills), [bold]demo-prepaid[/] has 5 credits and a limit of 0 (usage past the balance is refused)."
    )
    console.print("\nTry:")
    typer.echo(f"curl -s {key} {base}/customers/{world.customer_id}/wallet")
    for external in ("demo-customer", "demo-prepaid"):
        typer.echo(
            f"curl -s -X POST {key} -H 'Content-Type: application/json' {base}/events "
            f'-d \'{{"customer_external_id":"{external}","events":[{{"id":"evt-\'$(date +%s%N)\'",'
            f'"event_type":"chat_completed","occurred_at":"\'$(date -u +%FT%TZ)\'",'
            f'"data":{{"model":"gpt-large","tokens":1500}}}}]}}\''
        )
    typer.echo(f"curl -s {key} '{base}/events?customer_id={world.customer_id}'")
    console.print("\nSet (or lift, with null) an account's overdraft limit:")
    typer.echo(
        f"curl -s -X PATCH {key} -H 'Content-Type: application/json' "
        f"{base}/customers/{world.prepaid_id}/wallet/default:CREDITS -d '{{\"overdraft_limit\": \"10\"}}'"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
