"""The row buffer: rows gathered over a unit of work and written with one executemany per statement.

The hot path bills a whole group of customers in one transaction; writing each customer's rows as
they come would cost a statement round trip per row kind per customer. Rows are gathered here and
written at the end, statement by statement, in rank order so that foreign keys always point at rows
already written (accounts, then grants, then what refers to grants, then transactions and their
entries).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

ACCOUNTS, GRANTS, GRANT_DEPENDENTS, GRANT_CHANGES, ACCOUNT_CHANGES, EXPIRIES, TRANSACTIONS, ENTRIES, LAST = range(9)


class RowBuffer:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, Any], list[dict[str, Any]]] = {}

    def add(self, rank: int, statement: Any, row: dict[str, Any]) -> None:
        self.rows.setdefault((rank, statement), []).append(row)

    def extend(self, rank: int, statement: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.rows.setdefault((rank, statement), []).extend(rows)

    def execute(self, conn: Connection) -> None:
        for (_, statement), rows in sorted(self.rows.items(), key=lambda item: item[0][0]):
            conn.execute(statement, rows)
        self.rows.clear()
