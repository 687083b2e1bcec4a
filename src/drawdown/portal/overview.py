"""The overview page's figures: each wallet account's balances (with its asset's precision), and the
spend figures of ``ledger.overview_figures`` (this month and each of the last 30 days, per asset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from drawdown.catalog import service as catalog
from drawdown.core.scopes import Scope
from drawdown.portal import ledger
from drawdown.portal.data_models import OverviewFigures
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Balance


@dataclass(frozen=True)
class Overview:
    balances: list[tuple[Balance, int]]  # each account's balance, with its asset's precision
    figures: OverviewFigures


def overview(conn: Connection, scope: Scope, customer_id: str, now: datetime) -> Overview:
    places: dict[str, int] = {}
    balances = []
    for b in wallets.wallet(conn, scope, customer_id, now):
        if b.asset not in places:
            facts = catalog.asset_facts(conn, scope, b.asset)
            places[b.asset] = facts[0] if facts else 2
        balances.append((b, places[b.asset]))
    return Overview(balances, ledger.overview_figures(conn, scope, customer_id, now))
