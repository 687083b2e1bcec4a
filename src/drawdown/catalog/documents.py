"""A product version's documents, its prices and entitlements, read once per process.

They never change once the version exists: ``catalog.repository`` writes them when it creates the
version, and nothing updates them (a new version carries new documents; only a version's status
moves). So they are kept without a stamp, unlike the cache of the event path (``usage.cache``).
The event path and entitlement refreshes read them for every customer seen for the first time:
decoding the same JSON again for each was 7% and 10% of the engine's time at 10,000 customers
(docs/performance.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from drawdown.catalog import repository

LIMIT = 100_000  # versions kept; cleared whole past it, so memory stays flat


@dataclass(frozen=True)
class VersionDocuments:
    prices: list[dict[str, Any]]
    entitlements: list[dict[str, Any]]


_kept: dict[str, VersionDocuments] = {}
_lock = threading.Lock()


def of(conn: Connection, version_ids: Iterable[str]) -> dict[str, VersionDocuments]:
    """The documents of each version among ``version_ids`` (an id no version has is left out); those
    not kept yet are read in one query."""
    wanted = set(version_ids)
    out = {v: _kept[v] for v in wanted if v in _kept}
    unseen = sorted(wanted - out.keys())
    if unseen:
        read = {r.id: VersionDocuments(list(r.prices or ()), list(r.entitlements or ()))
                for r in repository.version_documents(conn, unseen)}
        with _lock:
            if len(_kept) + len(read) > LIMIT:
                _kept.clear()
            _kept.update(read)
        out.update(read)
    return out
