"""The CLI on a fresh SQLite file: keys, demo, the billing job, the revenue report."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from drawdown.bench.server import serve
from drawdown.cli import app


def test_cli_commands(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    made = runner.invoke(app, ["api-keys", "create", "--name", "ops"])
    assert made.exit_code == 0, made.output
    assert made.output.strip().splitlines()[-1].startswith("key_")
    demo = runner.invoke(app, ["demo"])
    assert demo.exit_code == 0, demo.output
    assert demo.output.count("curl -s") == 5
    assert '"customer_external_id":"demo-prepaid"' in demo.output and "overdraft_limit" in demo.output
    again = runner.invoke(app, ["demo"])  # idempotent: same customer, no second welcome gift
    assert again.exit_code == 0, again.output
    jobs = runner.invoke(app, ["jobs", "run"])
    assert jobs.exit_code == 0 and "fixed fees charged: 0" in jobs.output, jobs.output
    report = runner.invoke(app, ["report", "revenue", "--from", "2026-01-01", "--to", "2030-12-31"])
    assert report.exit_code == 0, report.output
    bad = runner.invoke(app, ["report", "revenue", "--from", "2026-13-01", "--to", "2026-12-31"])
    assert bad.exit_code != 0
    # One billed event, so the margins have a figure and the chart a point.
    from datetime import UTC, datetime

    from drawdown.customers import service as customers
    from drawdown.db.engine import make_engine, write
    from drawdown.usage import pipeline
    from drawdown.usage.cache import HotCache
    from drawdown.usage.models import UsageBatch, UsageEvent

    engine = make_engine(f"sqlite:///{tmp_path}/cli.db")
    now = datetime.now(UTC)
    with write(engine) as conn:
        customer = customers.find_by_external_id(conn, "demo-customer")
        ev = UsageEvent("cli-1", "chat_completed", now, data={"model": "gpt-large", "tokens": 1000})
        answer = pipeline.bill(conn, [UsageBatch(customer, None, [ev])], now, None, HotCache())[0]
        assert not isinstance(answer, Exception) and answer[1].accepted == ["cli-1"]
        # The prepaid demo customer is gated: 5 credits, a limit of 0, so a 20-credit event is refused.
        prepaid = customers.find_by_external_id(conn, "demo-prepaid")
        big = UsageEvent("cli-2", "chat_completed", now, data={"model": "gpt-large", "tokens": 10_000})
        answer = pipeline.bill(conn, [UsageBatch(prepaid, None, [big])], now, None, HotCache())[0]
        assert not isinstance(answer, Exception) and list(answer[1].rejected) == [0]
    chart = tmp_path / "margins.svg"
    margins = runner.invoke(app, ["report", "margins", "--by", "product", "--chart", str(chart)])
    assert margins.exit_code == 0, margins.output
    assert chart.read_text().startswith("<svg") and "polyline" in chart.read_text()
    assert "ai-chat" not in margins.output and "prp_" in margins.output  # one product row
    assert runner.invoke(app, ["report", "margins", "--by", "planet"]).exit_code != 0


def test_serve_with_two_workers_bills_events(tmp_path) -> None:
    """`drawdown serve` with DRAWDOWN_WORKERS=2: each worker process builds its app from the environment."""
    served = serve(f"sqlite:///{tmp_path}/w.db", workers=2)
    base, headers = served.base, served.headers
    try:
        customer = httpx.post(f"{base}/customers", json={"name": "w"}, headers=headers).json()["id"]
        for k in range(20):  # a new connection each: the kernel may hand it to either worker
            ev = {"id": f"w{k}", "event_type": "x", "occurred_at": "2026-11-25T00:00:00Z"}
            resp = httpx.post(
                f"{base}/events", json={"customer_id": customer, "events": [ev]}, headers=headers, timeout=10
            )
            assert resp.status_code == 204, resp.text
        assert (
            httpx.get(f"{base}/events", params={"customer_id": customer}, headers=headers).json()["total_count"] == 20
        )
    finally:
        assert served.stop() == 0
