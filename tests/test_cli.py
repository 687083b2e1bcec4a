"""The CLI on a fresh SQLite file: keys, demo, the billing job, the revenue report."""

from __future__ import annotations

from typer.testing import CliRunner

from drawdown.cli import app


def test_cli_commands(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("DRAWDOWN_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    made = runner.invoke(app, ["api-keys", "create", "--name", "ops"])
    assert made.exit_code == 0, made.output
    assert made.output.strip().splitlines()[-1].startswith("key_")
    demo = runner.invoke(app, ["demo"])
    assert demo.exit_code == 0, demo.output
    assert demo.output.count("curl -s") == 3
    again = runner.invoke(app, ["demo"])  # idempotent: same customer, no second welcome gift
    assert again.exit_code == 0, again.output
    jobs = runner.invoke(app, ["jobs", "run"])
    assert jobs.exit_code == 0 and "fixed fees charged: 0" in jobs.output, jobs.output
    report = runner.invoke(app, ["report", "revenue", "--from", "2026-01-01", "--to", "2030-12-31"])
    assert report.exit_code == 0, report.output
    bad = runner.invoke(app, ["report", "revenue", "--from", "2026-13-01", "--to", "2026-12-31"])
    assert bad.exit_code != 0
