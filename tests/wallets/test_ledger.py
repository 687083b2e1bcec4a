"""Ledger invariants checked in SQL after the API tests have written, on both backends."""

from __future__ import annotations

from sqlalchemy import func, select, text

from drawdown.db.engine import read
from drawdown.db.tables import credit_grants, ledger_entries, wallet_accounts
from tests.api.helpers import customer_on, event, gift, make_asset, token_product


def test_every_transaction_balances_and_accounts_equal_their_grants(server, client) -> None:
    asset = make_asset(client)
    product = token_product(client, asset)
    customer_id = customer_on(client, product["code"])
    gift(client, customer_id, asset, "3")
    client.events.send_usage(
        {"customer_id": customer_id, "events": [event(model="large", tokens=333_333) for _ in range(3)]}
    )
    with read(server.engine) as conn:
        unbalanced = conn.execute(
            select(ledger_entries.c.transaction_id)
            .group_by(ledger_entries.c.transaction_id)
            .having(func.sum(ledger_entries.c.amount) != 0)
        ).all()
        assert unbalanced == []
        for acc in conn.execute(select(wallet_accounts)).all():
            booked = conn.execute(
                select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
                    ledger_entries.c.account == f"wallet:{acc.id}"
                )
            ).scalar_one()
            granted = conn.execute(
                select(func.coalesce(func.sum(credit_grants.c.remaining), 0)).where(
                    credit_grants.c.account_id == acc.id
                )
            ).scalar_one()
            assert int(booked) == int(granted) - acc.debt, acc.id
        # SQL sums over the integer columns are exact on both backends.
        total = conn.execute(text("SELECT SUM(amount) FROM ledger_entries")).scalar_one()
        assert int(total) == 0 and not isinstance(total, float)


def test_migrations_are_complete(database_url, engine) -> None:
    from alembic import command

    from drawdown.db.migrate import alembic_config

    command.check(alembic_config(database_url))


def test_rollup_segments_split_ranges_into_months_and_edge_days() -> None:
    from drawdown.reports.profitability import segments

    assert segments("2026-03-01", "2026-03-31") == [("month", "2026-03", "2026-03")]
    assert segments("2026-03-05", "2026-03-20") == [("day", "2026-03-05", "2026-03-20")]
    assert segments("2026-01-15", "2026-04-10") == [
        ("day", "2026-01-15", "2026-01-31"),
        ("day", "2026-04-01", "2026-04-10"),
        ("month", "2026-02", "2026-03"),
    ]
    assert segments("2026-02-01", "2028-02-29") == [("month", "2026-02", "2028-02")]
    assert segments(None, None) == [("month", "0001-01", "9999-12")]
    assert segments("2026-12-15", "2027-01-01") == [
        ("day", "2026-12-15", "2026-12-31"),
        ("day", "2027-01-01", "2027-01-01"),
    ]
    assert segments("2026-05-02", "2026-05-01") == []
