"""Vendors over HTTP in two scopes of the default account: a test-environment key never sees, counts
or replays what a live key made (docs: issue 11, scopes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST
from drawdown.db.engine import write
from drawdown.reports import profitability
from tests.conftest import Server, unique

ZERO = Decimal(0)


@pytest.fixture(scope="module")
def test_key(server: Server) -> str:
    with write(server.engine) as conn:
        _, secret = api_keys.create(conn, DEFAULT_TEST, "vendors test env", datetime.now(UTC))
    return secret


@pytest.fixture
def both(server: Server, test_key: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with (
        httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=30) as live,
        httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": test_key}, timeout=30) as test,
    ):
        yield live, test


def _unknown_like(test: httpx.Client, path: str, vendor_id: str) -> None:
    """``path`` (with ``{}`` for the id) answers for ``vendor_id`` exactly as for an id nobody has."""
    nobody = "vnd_" + "0" * 26
    foreign, unknown = test.get(path.format(vendor_id)), test.get(path.format(nobody))
    assert foreign.status_code == unknown.status_code == 404
    body = foreign.json()
    assert {k: v for k, v in body.items() if k != "instance"} == {
        k: (v.replace(nobody, vendor_id) if isinstance(v, str) else v)
        for k, v in unknown.json().items()
        if k != "instance"
    }


def test_the_same_external_id_is_one_vendor_per_scope(both: tuple[httpx.Client, httpx.Client]) -> None:
    live, test = both
    external = unique("ext")
    a = live.post("/vendors", json={"name": "Live GPU", "external_id": external})
    b = test.post("/vendors", json={"name": "Test GPU", "external_id": external})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
    again = test.post("/vendors", json={"name": "Test GPU again", "external_id": external})
    assert again.status_code == 409  # still unique within a scope
    for client, mine, name in ((live, a, "Live GPU"), (test, b, "Test GPU")):
        listed = client.get("/vendors", params={"external_id": external}).json()
        assert listed["total_count"] == 1 and [v["name"] for v in listed["items"]] == [name]
        assert client.get(f"/vendors/{mine.json()['id']}").json()["name"] == name


def test_a_test_key_sees_nothing_of_a_live_vendor(server: Server, both: tuple[httpx.Client, httpx.Client]) -> None:
    live, test = both
    vendor_id = live.post("/vendors", json={"name": "Live only"}).json()["id"]
    with write(server.engine) as conn:  # live costs, as the usage pipeline would add them
        profitability.add_all(conn, DEFAULT_LIVE, {("vendor_month", vendor_id, "llm", "2026-02"): (ZERO, Decimal(7))})
    assert live.get(f"/vendors/{vendor_id}/stats").json()["total_costs"] == 7
    _unknown_like(test, "/vendors/{}", vendor_id)
    _unknown_like(test, "/vendors/{}/stats", vendor_id)
    listed = test.get("/vendors", params={"limit": 500}).json()
    assert vendor_id not in {v["id"] for v in listed["items"]}


def test_a_test_vendor_counts_only_its_own_costs(server: Server, both: tuple[httpx.Client, httpx.Client]) -> None:
    live, test = both
    vendor_id = test.post("/vendors", json={"name": "Test only"}).json()["id"]
    key = ("vendor_month", vendor_id, "gpu", "2026-02")  # open-ended stats read month rows
    with write(server.engine) as conn:  # stray live rows under the test vendor's id are not its costs
        profitability.add_all(conn, DEFAULT_TEST, {key: (ZERO, Decimal("1.5"))})
        profitability.add_all(conn, DEFAULT_LIVE, {key: (ZERO, Decimal(100))})
    stats = test.get(f"/vendors/{vendor_id}/stats").json()
    assert (stats["total_costs"], stats["categories"]) == (1.5, [{"category": "gpu", "cost": 1.5}])


def test_an_idempotency_key_reused_in_another_scope_runs_again(both: tuple[httpx.Client, httpx.Client]) -> None:
    live, test = both
    key, body = unique("idem"), {"name": "Twice", "external_id": unique("ext")}
    first = live.post("/vendors", json=body, headers={"Idempotency-Key": key})
    other = test.post("/vendors", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == other.status_code == 201
    assert first.json()["id"] != other.json()["id"]  # not the live response replayed
    assert test.get(f"/vendors/{other.json()['id']}").status_code == 200
    # Each scope keeps replaying its own first response, and a changed body conflicts only there.
    assert live.post("/vendors", json=body, headers={"Idempotency-Key": key}).json() == first.json()
    assert test.post("/vendors", json=body, headers={"Idempotency-Key": key}).json() == other.json()
    changed = test.post("/vendors", json={**body, "name": "Changed"}, headers={"Idempotency-Key": key})
    assert changed.status_code == 409
