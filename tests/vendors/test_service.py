"""The vendors' use cases called directly, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import Engine

from drawdown.core.errors import Conflict, NotFound
from drawdown.core.scopes import DEFAULT_LIVE, DEFAULT_TEST
from drawdown.db.engine import read, write
from drawdown.vendors import service as vendors
from drawdown.vendors.models import NewVendor, VendorCosts

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _external() -> str:
    return "ext-" + uuid.uuid4().hex[:10]


def test_a_vendor_is_created_and_read_back(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        created = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="GPU Cloud", external_id=external), T0)
    assert created.id.startswith("vnd") and created.created_at == T0
    with read(engine) as conn:
        got = vendors.get(conn, DEFAULT_LIVE, created.id)
    assert got == created
    assert (got.name, got.external_id) == ("GPU Cloud", external)


def test_an_external_id_names_one_vendor_but_vendors_without_one_are_many(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        vendors.create(conn, DEFAULT_LIVE, NewVendor(name="first", external_id=external), T0)
        a = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="anonymous"), T0)
        b = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="anonymous"), T0)
    assert a.id != b.id and a.external_id is None
    with pytest.raises(Conflict, match=external):
        with write(engine) as conn:
            vendors.create(conn, DEFAULT_LIVE, NewVendor(name="second", external_id=external), T0)
    with read(engine) as conn:
        items, total = vendors.list_vendors(conn, DEFAULT_LIVE, 0, 10, external)
    assert total == 1 and [v.name for v in items] == ["first"]


def test_an_unknown_vendor_is_not_found(engine: Engine) -> None:
    with read(engine) as conn, pytest.raises(NotFound, match="vendor vnd_nope not found"):
        vendors.get(conn, DEFAULT_LIVE, "vnd_nope")
    with read(engine) as conn, pytest.raises(NotFound):
        vendors.stats(conn, DEFAULT_LIVE, "vnd_nope", None, None, None)


def test_vendors_are_listed_oldest_first_a_page_at_a_time(engine: Engine) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)  # later than every other test's vendors
    with write(engine) as conn:
        made = [
            vendors.create(conn, DEFAULT_LIVE, NewVendor(name=f"v{i}"), start + timedelta(seconds=i)) for i in range(3)
        ]
    with read(engine) as conn:
        _, total = vendors.list_vendors(conn, DEFAULT_LIVE, 0, 1, None)
        tail, same_total = vendors.list_vendors(conn, DEFAULT_LIVE, total - 3, 10, None)
        middle, _ = vendors.list_vendors(conn, DEFAULT_LIVE, total - 2, 1, None)
    assert total == same_total and total >= 3
    assert tail == made and middle == [made[1]]


def test_resolve_prefers_the_id_and_answers_none_for_strangers(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        vendor = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="named", external_id=external), T0)
    with read(engine) as conn:
        assert vendors.resolve(conn, DEFAULT_LIVE, vendor.id, None) == vendor.id
        assert vendors.resolve(conn, DEFAULT_LIVE, None, external) == vendor.id
        assert vendors.resolve(conn, DEFAULT_LIVE, vendor.id, "someone-else") == vendor.id  # the id wins
        assert vendors.resolve(conn, DEFAULT_LIVE, "vnd_nope", external) is None  # the external id does not rescue it
        assert vendors.resolve(conn, DEFAULT_LIVE, None, "ext-nobody") is None


def test_a_vendor_without_costs_has_an_empty_report(engine: Engine) -> None:
    with write(engine) as conn:
        vendor = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="idle"), T0)
    with read(engine) as conn:
        assert vendors.stats(conn, DEFAULT_LIVE, vendor.id, "2026-01-01", None, None) == VendorCosts(D(0), ())


def test_the_same_external_id_names_one_vendor_in_each_scope(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        live = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="live", external_id=external), T0)
        test = vendors.create(conn, DEFAULT_TEST, NewVendor(name="test", external_id=external), T0)
    assert live.id != test.id
    with read(engine) as conn:
        for scope, mine in ((DEFAULT_LIVE, live), (DEFAULT_TEST, test)):
            assert vendors.list_vendors(conn, scope, 0, 10, external) == ([mine], 1)
            assert vendors.resolve(conn, scope, None, external) == mine.id
            assert vendors.get(conn, scope, mine.id) == mine


def test_a_vendor_of_another_scope_is_unknown(engine: Engine) -> None:
    with write(engine) as conn:
        vendor = vendors.create(conn, DEFAULT_LIVE, NewVendor(name="live only", external_id=_external()), T0)
    with read(engine) as conn:
        with pytest.raises(NotFound, match=f"vendor {vendor.id} not found"):
            vendors.get(conn, DEFAULT_TEST, vendor.id)
        with pytest.raises(NotFound, match=f"vendor {vendor.id} not found"):
            vendors.stats(conn, DEFAULT_TEST, vendor.id, None, None, None)
        assert vendors.resolve(conn, DEFAULT_TEST, vendor.id, None) is None
        assert vendors.resolve(conn, DEFAULT_TEST, None, vendor.external_id) is None
        assert vendor.id not in {v.id for v in vendors.list_vendors(conn, DEFAULT_TEST, 0, 1000, None)[0]}
