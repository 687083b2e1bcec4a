"""The portal's usage: one customer's events with their fees, newest recorded first, filtered by
recorded time and product, a page at a time or streamed as CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core.money import from_scaled
from drawdown.core.scopes import Scope
from drawdown.customers import service as customers
from drawdown.portal import data_repository as repository
from drawdown.portal.data_models import UsageFee, UsageFilter, UsageItem
from drawdown.portal.ledger import require_customer

CSV_PAGE = 500
CSV_HEADER = (
    "event_id", "event_type", "occurred_at", "recorded_at", "subject", "description",
    "product_code", "product_name", "price_name", "amount", "asset",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def usage_page(
    conn: Connection, scope: Scope, customer_id: str, filters: UsageFilter, offset: int, limit: int
) -> tuple[list[UsageItem], int]:
    require_customer(conn, scope, customer_id)
    rows, total = repository.usage_page(conn, customer_id, filters, offset, limit)
    return _items(conn, rows), total


def products(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> list[tuple[str, str]]:
    """(id, code) of the products the customer is subscribed to, for the usage page's product filter."""
    found: dict[str, str] = {}
    for sub in customers.get_customer(conn, scope, customer_id, now).subscriptions:
        for p in sub.products:
            found.setdefault(p.id, p.code)
    return sorted(found.items(), key=lambda item: item[1])


def usage_csv(conn: Connection, scope: Scope, customer_id: str, filters: UsageFilter) -> Iterator[str]:
    """CSV lines (header first, CRLF-terminated): one per fee, an event without fees on one line with
    empty fee columns. The customer is checked now; the events are read lazily, ``CSV_PAGE`` at a time
    (keyset on recorded time and seq), so ``conn`` must stay open while the lines are consumed."""
    require_customer(conn, scope, customer_id)
    return _csv_lines(conn, customer_id, filters)


def _csv_lines(conn: Connection, customer_id: str, filters: UsageFilter) -> Iterator[str]:
    yield _line(CSV_HEADER)
    after: tuple[datetime, int] | None = None
    while True:
        rows = repository.usage_after(conn, customer_id, filters, after, CSV_PAGE)
        for item in _items(conn, rows):
            head = (item.id, item.event_type, _iso(item.occurred_at), _iso(item.recorded_at),
                    _text(item.subject), _text(item.description))
            if not item.fees:
                yield _line((*head, "", "", "", "", ""))
            for fee in item.fees:
                yield _line((*head, _text(fee.product_code), _text(fee.product_name), _text(fee.price_name),
                             _exact(fee.amount), fee.asset))
        if len(rows) < CSV_PAGE:
            return
        after = (rows[-1].created_at, rows[-1].seq)


def _items(conn: Connection, rows: Sequence[Any]) -> list[UsageItem]:
    fees: dict[int, list[UsageFee]] = defaultdict(list)
    for f in repository.fees_of(conn, [r.seq for r in rows]):
        fees[f.event_seq].append(
            UsageFee(f.product_id, f.product_code, f.product_name, f.price_name, from_scaled(f.amount), f.asset)
        )
    return [
        UsageItem(r.id, r.event_type, r.occurred_at, r.created_at, r.subject, r.description, tuple(fees.get(r.seq, ())))
        for r in rows
    ]


def _line(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()


def _iso(at: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _exact(value: Decimal) -> str:
    return format(value, "f")


def _text(value: str | None) -> str:
    """Free text, defused for spreadsheets: a cell starting like a formula gets a leading apostrophe."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value
