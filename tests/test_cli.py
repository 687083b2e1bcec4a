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
    assert made.output.strip().splitlines()[-1].startswith("key_live_")
    test_key = runner.invoke(app, ["api-keys", "create", "--name", "qa", "--environment", "test"])
    assert test_key.exit_code == 0 and test_key.output.strip().splitlines()[-1].startswith("key_test_")
    platform = runner.invoke(app, ["accounts", "create", "--name", "Second platform"])
    assert platform.exit_code == 0, platform.output
    second = platform.output.strip().splitlines()[-1]
    assert second.startswith("acc_")
    theirs = runner.invoke(app, ["api-keys", "create", "--name", "theirs", "--account", second])
    assert theirs.exit_code == 0, theirs.output
    assert runner.invoke(app, ["api-keys", "create", "--name", "x", "--account", "acc_nope"]).exit_code == 1
    assert runner.invoke(app, ["api-keys", "create", "--name", "x", "--environment", "prod"]).exit_code == 1
    listed = runner.invoke(app, ["api-keys", "list"])
    assert listed.exit_code == 0 and "ops" in listed.output and "theirs" in listed.output, listed.output
    key_id = next(line.split()[2] for line in theirs.output.splitlines() if line.startswith("key id:"))
    assert runner.invoke(app, ["api-keys", "revoke", key_id]).exit_code == 0
    assert runner.invoke(app, ["api-keys", "revoke", "key_00000000000000000000000000"]).exit_code == 1
    assert "Second platform" in runner.invoke(app, ["accounts", "list"]).output
    demo = runner.invoke(app, ["demo"])
    assert demo.exit_code == 0, demo.output
    assert "key_test_" in demo.output  # the demo lives in the test environment
    assert demo.output.count("curl -s") == 5
    assert '"customer_external_id":"demo-prepaid"' in demo.output and "overdraft_limit" in demo.output
    again = runner.invoke(app, ["demo"])  # idempotent: same customer, no second welcome gift
    assert again.exit_code == 0, again.output
    jobs = runner.invoke(app, ["jobs", "run"])
    assert jobs.exit_code == 0 and "fixed fees charged: 0" in jobs.output, jobs.output
    test_env = ["--environment", "test"]
    report = runner.invoke(app, ["report", "revenue", "--from", "2026-01-01", "--to", "2030-12-31", *test_env])
    assert report.exit_code == 0, report.output
    bad = runner.invoke(app, ["report", "revenue", "--from", "2026-13-01", "--to", "2026-12-31"])
    assert bad.exit_code != 0
    # One billed event, so the margins have a figure and the chart a point.
    from datetime import UTC, datetime

    from drawdown.core.scopes import DEFAULT_TEST
    from drawdown.customers import service as customers
    from drawdown.db.engine import make_engine, write
    from drawdown.usage import pipeline
    from drawdown.usage.cache import HotCache
    from drawdown.usage.models import UsageBatch, UsageEvent

    engine = make_engine(f"sqlite:///{tmp_path}/cli.db")
    now = datetime.now(UTC)
    with write(engine) as conn:
        customer = customers.find_by_external_id(conn, DEFAULT_TEST, "demo-customer")
        ev = UsageEvent("cli-1", "chat_completed", now, "run-7", data={"model": "gpt-large", "tokens": 1000})
        answer = pipeline.bill(conn, [UsageBatch(DEFAULT_TEST, customer, None, [ev])], now, None, HotCache())[0]
        assert not isinstance(answer, Exception) and answer[1].accepted == ["cli-1"]
        # The prepaid demo customer is gated: 5 credits, a limit of 0, so a 20-credit event is refused.
        prepaid = customers.find_by_external_id(conn, DEFAULT_TEST, "demo-prepaid")
        big = UsageEvent("cli-2", "chat_completed", now, data={"model": "gpt-large", "tokens": 10_000})
        answer = pipeline.bill(conn, [UsageBatch(DEFAULT_TEST, prepaid, None, [big])], now, None, HotCache())[0]
        assert not isinstance(answer, Exception) and list(answer[1].rejected) == [0]
    chart = tmp_path / "margins.svg"
    margins = runner.invoke(app, ["report", "margins", "--by", "product", "--chart", str(chart), *test_env])
    assert margins.exit_code == 0, margins.output
    assert chart.read_text().startswith("<svg") and "polyline" in chart.read_text()
    assert "ai-chat" not in margins.output and "prp_" in margins.output  # one product row
    assert runner.invoke(app, ["report", "margins", "--by", "planet"]).exit_code != 0
    live = runner.invoke(app, ["report", "margins", "--by", "product"])  # the demo's live scope is empty
    assert live.exit_code == 0 and "prp_" not in live.output
    runs = runner.invoke(app, ["report", "margins", "--by", "subject", "--order", "margin", *test_env])
    assert runs.exit_code == 0 and "run-7" in runs.output and "1 of 1 subjects" in runs.output, runs.output
    assert runner.invoke(app, ["report", "margins", "--by", "subject", "--order", "cost"]).exit_code != 0


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
