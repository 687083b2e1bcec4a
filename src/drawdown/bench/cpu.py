"""Where a single event's CPU goes (``drawdown bench http``): the CPU time each process of the served
system spent during a load, read from ``/proc`` (Linux), divided by the requests answered.

Three parts: the server's event loop (the served process), its writer (the server's child processes),
and the database: the PostgreSQL backends connected to the bench's database when PostgreSQL runs on
this machine (SQLite works inside the writer). On two cores their sum, not one of them, is what a
throughput ratio is made of; a writer and its backend that take turns add up to one core.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _seconds(pid: int) -> float:
    """User plus system CPU seconds of one process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return found


def _backends(url: str) -> list[int]:
    """The PostgreSQL backends connected to ``url``'s database, when PostgreSQL runs here."""
    if not url.startswith("postgresql") or not Path("/proc").exists():
        return []
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,))]
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]  # only a server on this machine


def database_seconds(url: str) -> float:
    """CPU seconds the PostgreSQL backends connected to ``url``'s database have spent (0 elsewhere)."""
    return sum(_seconds(pid) for pid in _backends(url))


class CpuSplit:
    """CPU seconds by part, taken before a load; ``per_request`` after it gives milliseconds per request."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.parts = {"event loop": [server_pid], "writer": _children(server_pid), "database": _backends(url)}
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        return {part: sum(_seconds(pid) for pid in pids) for part, pids in self.parts.items()}

    def per_request(self, requests: float) -> dict[str, float]:
        after = self._now()
        return {part: round((after[part] - self.before[part]) / requests * 1000, 3)
                for part, pids in self.parts.items() if pids and requests}
