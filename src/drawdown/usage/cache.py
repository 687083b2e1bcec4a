"""The one cache of the event hot path, and its invalidation rule.

**Rule: nothing is ever invalidated by hand.** Every entry is stamped with a version read from the
database in the same transaction that uses it, and an entry whose stamp differs is read again:

* a customer's **subscribed prices** and the **next moment an entitlement falls due** are stamped with
  ``customers.revision``, read under the customer's row lock. Database triggers (migrations 0006 and
  0008) move the revision on every INSERT, UPDATE or DELETE of ``subscriptions``,
  ``subscription_products`` and ``subscription_product_versions``, so no writer, present or future, can
  change a subscription without the cache seeing it. A group that issues entitlement grants moves the
  revision itself, in its own transaction, and remembers its check under the new one: if that
  transaction fails, the grants are due again (``usage/receive.py:_entitlements_due``);
* **exchange rates** are held per scope (each scope has its own custom assets and rates), each
  stamped with its scope's rates version (the highest rate id and the row count, read for every scope
  of a group in one query): every rate change inserts a row, and rate rows are never deleted;
* **parsed price documents** are keyed by price id: a price's document never changes (a new version
  gets new price ids; only a version's status changes afterwards); the documents themselves come from
  ``catalog.documents``, read once per version.

One object per process (the application, the batching writer and the benchmark each hand theirs
down); each map is cleared whole when it passes ``LIMIT`` entries, so memory stays flat.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.catalog import documents
from drawdown.core import catalog as price_rules
from drawdown.core.pricing import UsagePrice
from drawdown.usage import repository

LIMIT = 100_000  # entries per map


@dataclass(frozen=True)
class Priced:
    """A usage price a customer is (or was) subscribed to, with where it comes from and the window
    ``[valid_from, valid_until)`` its version was in force on the subscription."""

    product_id: str
    product_code: str
    version: int
    price: UsagePrice
    cadence: price_rules.Cadence
    subscription_id: str
    started_at: datetime  # the subscription's: billing and tier periods stay anchored on it across versions
    valid_from: datetime
    valid_until: datetime | None  # None: the version in force now

    def in_force(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


class Rates:
    """Every exchange rate, in memory: the rate in force is the latest-starting one covering the moment
    (the same rule as ``catalog.rates.rate_in_force``)."""

    def __init__(self, rows: list[tuple[str, str, Decimal, datetime, datetime | None]]) -> None:
        self.schedules: dict[tuple[str, str], list[tuple[Decimal, datetime, datetime | None]]] = {}
        for asset, source, rate, start, end in rows:  # latest start first
            self.schedules.setdefault((asset, source), []).append((rate, start, end))

    def in_force(self, asset: str, source: str, at: datetime) -> Decimal | None:
        for rate, start, end in self.schedules.get((asset, source), ()):
            if start <= at and (end is None or end > at):
                return rate
        return None

    def value_in(self, amount: Decimal, currency: str, target: str, at: datetime) -> Decimal | None:
        """``amount`` of ``currency`` in ``target`` (exact; None when no rate links them): the direct
        rate, else the inverse of the target's rate in the currency."""
        if currency == target:
            return amount
        direct = self.in_force(currency, target, at)
        if direct is not None:
            return amount * direct
        inverse = self.in_force(target, currency, at)
        return None if inverse is None else amount / inverse


class HotCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the batching writer and direct callers may share one cache
        self._prices: dict[str, tuple[int, list[Priced]]] = {}
        self._due: dict[str, tuple[int, datetime | None]] = {}
        self._parsed: dict[str, tuple[UsagePrice, price_rules.Cadence]] = {}
        self._rates: dict[int, tuple[tuple[int, int], Rates]] = {}  # scope id -> (version, rates)

    # ------------------------------------------------------------------------- subscribed prices
    def subscribed_prices(self, conn: Connection, revisions: dict[str, int]) -> dict[str, list[Priced]]:
        """Every usage price of every version each customer's active subscriptions have been on
        (customer -> revision read under its lock), each with its window; the customers not cached under
        that revision are read in one query."""
        out: dict[str, list[Priced]] = {}
        missing = []
        for customer_id, revision in revisions.items():
            cached = self._prices.get(customer_id)
            if cached is not None and cached[0] == revision:
                out[customer_id] = cached[1]
            else:
                missing.append(customer_id)
        if missing:
            found = self._read_prices(conn, missing)
            with self._lock:
                _make_room(self._prices, len(missing))
                for customer_id in missing:
                    out[customer_id] = found[customer_id]
                    self._prices[customer_id] = (revisions[customer_id], found[customer_id])
        return out

    def _read_prices(self, conn: Connection, customer_ids: list[str]) -> dict[str, list[Priced]]:
        out: dict[str, list[Priced]] = {c: [] for c in customer_ids}
        rows = repository.subscribed_price_rows(conn, customer_ids)
        docs = documents.of(conn, (r.version_id for r in rows))
        for r in rows:
            for doc in docs[r.version_id].prices:
                if doc.get("type") == "usage_based":
                    price, cadence = self.parsed(doc)
                    out[r.customer_id].append(Priced(r.id, r.code, r.version, price, cadence, r.sub_id, r.started_at,
                                                     r.valid_from, r.valid_until))
        return out

    def parsed(self, doc: dict[str, Any]) -> tuple[UsagePrice, price_rules.Cadence]:
        """A price document parsed once per process."""
        found = self._parsed.get(doc["id"])
        if found is None:
            found = (price_rules.usage_price(doc), price_rules.cadence(doc))
            with self._lock:
                _make_room(self._parsed, 1)
                self._parsed[doc["id"]] = found
        return found

    # ------------------------------------------------------------------------ entitlements due
    def entitlements_due(self, revisions: dict[str, int], now: datetime) -> list[str]:
        """The customers whose entitlements may have fallen due (unknown, moved, or their time came)."""
        due = []
        for customer_id, revision in revisions.items():
            known = self._due.get(customer_id)
            if known is None or known[0] != revision or (known[1] is not None and now >= known[1]):
                due.append(customer_id)
        return due

    def entitlements_checked(self, customer_id: str, revision: int, next_due: datetime | None) -> None:
        with self._lock:
            _make_room(self._due, 1)
            self._due[customer_id] = (revision, next_due)

    # ---------------------------------------------------------------------------------- rates
    def rates(self, conn: Connection, scope_ids: Iterable[int]) -> dict[int, Rates]:
        """Each scope's rates (scope id -> Rates); a scope whose version moved is read again."""
        return self.rates_at(conn, repository.rates_versions(conn, sorted(set(scope_ids))))

    def rates_at(self, conn: Connection, versions: dict[int, tuple[int, int]]) -> dict[int, Rates]:
        """``rates``, the versions read already (with the group's other reads)."""
        out = {}
        for scope_id, version in versions.items():
            held = self._rates.get(scope_id)
            if held is None or held[0] != version:
                held = (version, Rates(repository.all_rates(conn, scope_id)))
                with self._lock:
                    _make_room(self._rates, 1)
                    self._rates[scope_id] = held
            out[scope_id] = held[1]
        return out


def _make_room(entries: dict[Any, Any], adding: int) -> None:
    if len(entries) + adding > LIMIT:
        entries.clear()
