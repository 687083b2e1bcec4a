"""The vendors' use cases called directly, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import Engine

from drawdown.core.errors import Conflict, NotFound
from drawdown.db.engine import read, write
from drawdown.vendors import service as vendors
from drawdown.vendors.models import NewVendor, VendorCosts

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _external() -> str:
    return "ext-" + uuid.uuid4().hex[:10]


def test_a_vendor_is_created_and_read_back(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        created = vendors.create(conn, NewVendor(name="GPU Cloud", external_id=external), T0)
    assert created.id.startswith("vnd") and created.created_at == T0
    with read(engine) as conn:
        got = vendors.get(conn, created.id)
    assert got == created
    assert (got.name, got.external_id) == ("GPU Cloud", external)


def test_an_external_id_names_one_vendor_but_vendors_without_one_are_many(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        vendors.create(conn, NewVendor(name="first", external_id=external), T0)
        a = vendors.create(conn, NewVendor(name="anonymous"), T0)
        b = vendors.create(conn, NewVendor(name="anonymous"), T0)
    assert a.id != b.id and a.external_id is None
    with pytest.raises(Conflict, match=external):
        with write(engine) as conn:
            vendors.create(conn, NewVendor(name="second", external_id=external), T0)
    with read(engine) as conn:
        items, total = vendors.list_vendors(conn, 0, 10, external)
    assert total == 1 and [v.name for v in items] == ["first"]


def test_an_unknown_vendor_is_not_found(engine: Engine) -> None:
    with read(engine) as conn, pytest.raises(NotFound, match="vendor vnd_nope not found"):
        vendors.get(conn, "vnd_nope")
    with read(engine) as conn, pytest.raises(NotFound):
        vendors.stats(conn, "vnd_nope", None, None, None)


def test_vendors_are_listed_oldest_first_a_page_at_a_time(engine: Engine) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)  # later than every other test's vendors
    with write(engine) as conn:
        made = [vendors.create(conn, NewVendor(name=f"v{i}"), start + timedelta(seconds=i)) for i in range(3)]
    with read(engine) as conn:
        _, total = vendors.list_vendors(conn, 0, 1, None)
        tail, same_total = vendors.list_vendors(conn, total - 3, 10, None)
        middle, _ = vendors.list_vendors(conn, total - 2, 1, None)
    assert total == same_total and total >= 3
    assert tail == made and middle == [made[1]]


def test_resolve_prefers_the_id_and_answers_none_for_strangers(engine: Engine) -> None:
    external = _external()
    with write(engine) as conn:
        vendor = vendors.create(conn, NewVendor(name="named", external_id=external), T0)
    with read(engine) as conn:
        assert vendors.resolve(conn, vendor.id, None) == vendor.id
        assert vendors.resolve(conn, None, external) == vendor.id
        assert vendors.resolve(conn, vendor.id, "someone-else") == vendor.id  # the id wins
        assert vendors.resolve(conn, "vnd_nope", external) is None  # a wrong id is not rescued by the external id
        assert vendors.resolve(conn, None, "ext-nobody") is None


def test_a_vendor_without_costs_has_an_empty_report(engine: Engine) -> None:
    with write(engine) as conn:
        vendor = vendors.create(conn, NewVendor(name="idle"), T0)
    with read(engine) as conn:
        assert vendors.stats(conn, vendor.id, "2026-01-01", None, None) == VendorCosts(D(0), ())
