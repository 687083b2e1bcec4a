"""``drawdown bench job`` builds a world where nothing is due (checked by the bench itself: a visit raises)."""

from __future__ import annotations

from pathlib import Path

from drawdown.bench.job import world


def test_a_small_world_has_nothing_due(tmp_path: Path) -> None:
    result = world(f"sqlite:///{tmp_path / 'job.db'}", 5)
    assert (result["customers"], result["old_visits"]) == (5, 5)
