"""``drawdown bench holds`` times hold placement and release next to an event against a real server
process (each request checked: 204, 201, 200)."""

from __future__ import annotations

from pathlib import Path

from drawdown.bench.holds import hold_phase
from drawdown.bench.world import build_world
from drawdown.db.migrate import upgrade


def test_the_hold_phase_times_all_three_against_a_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    upgrade(url)
    result = hold_phase(url, build_world(url, 3), 20)
    assert result["samples"] == 20
    for name in ("event_ms", "hold_create_ms", "hold_release_ms"):
        assert 0 < result[name]["p50"] <= result[name]["p99"] <= result[name]["p99.9"]
    assert result["hold_create_p99_over_event_p99"] > 0 and result["hold_release_p99_over_event_p99"] > 0
