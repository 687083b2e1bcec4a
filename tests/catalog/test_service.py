"""The catalog's use cases called directly, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine

from drawdown.catalog import rates
from drawdown.catalog import service as catalog
from drawdown.catalog.models import (
    NewAsset,
    NewProduct,
    NewRate,
    NewVersion,
    QuoteRequest,
    StartingRate,
    VersionUpdate,
)
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.periods import EPOCH
from drawdown.core.scopes import DEFAULT_LIVE as LIVE
from drawdown.db.engine import read, write
from tests.worlds import volume_world

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 4, 1, tzinfo=UTC)


def _code(prefix: str = "C") -> str:
    return prefix + uuid.uuid4().hex[:8].upper()


def _asset(engine: Engine, precision: int | None = None, *starting: StartingRate) -> str:
    code = _code()
    with write(engine) as conn:
        catalog.create_asset(conn, LIVE, NewAsset(code=code, name=code, precision=precision, rates=starting), T0)
    return code


def _price(asset: str) -> dict[str, Any]:
    return {
        "name": "use", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "use", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": asset, "values": [{"volume_rate": D("0.5")}]}],
    }


def _entitlement(asset: str, name: str = "monthly", amount: D = D(10)) -> dict[str, Any]:
    return {"name": name, "asset": asset, "amount": amount, "purpose": "bundled", "lifecycle": {"duration": "month"}}


# ----------------------------------------------------------------------------------------- assets
def test_an_asset_starts_with_its_rates_in_force_from_the_beginning(engine: Engine) -> None:
    code = _code()
    starting = (StartingRate("usd", D("0.000125")), StartingRate("EUR", inverse_rate=D(4)))
    with write(engine) as conn:
        created = catalog.create_asset(conn, LIVE, NewAsset(code=code.lower(), name="Tokens", rates=starting), T0)
    assert created.code == code and created.created_at == T0
    with read(engine) as conn:
        asset = catalog.get_asset(conn, LIVE, code)
        ancient = rates.rate_in_force(conn, LIVE, code, "USD", datetime(2000, 1, 1, tzinfo=UTC))
    assert (asset.precision, asset.label, asset.symbol) == (2, code, None)  # the defaults
    by_source = {s.source: s.periods for s in asset.schedules}
    assert set(by_source) == {"USD", "EUR"}
    [usd] = by_source["USD"]
    assert (usd.valid_from, usd.valid_to, usd.rate, usd.inverse_rate) == (EPOCH, None, D("0.000125"), D(8000))
    assert by_source["EUR"][0].rate == D("0.25")  # given as its inverse
    assert ancient is not None and ancient.rate == D("0.000125")


def test_an_asset_code_is_taken_once(engine: Engine) -> None:
    code = _asset(engine)
    with pytest.raises(Conflict, match=f"asset {code} already exists"):
        with write(engine) as conn:
            catalog.create_asset(conn, LIVE, NewAsset(code=code.lower(), name="again", precision=5), T0)
    with read(engine) as conn:
        assert catalog.get_asset(conn, LIVE, code).precision == 2  # the first one, untouched


def test_a_starting_rate_needs_a_fiat_source_and_a_representable_rate(engine: Engine) -> None:
    custom = _asset(engine)
    code = _code()
    starting = (
        StartingRate("USD", D("0.01")),
        StartingRate("XXX", D(1)),
        StartingRate(custom, D(1)),
        StartingRate("EUR", inverse_rate=D("1e30")),
    )
    with pytest.raises(Invalid) as seen:
        with write(engine) as conn:
            catalog.create_asset(conn, LIVE, NewAsset(code=code, name=code, rates=starting), T0)
    assert seen.value.errors == {
        "rates[1].source": ["'XXX' is not a known fiat currency"],
        "rates[2].source": [f"{custom!r} is not a known fiat currency"],
        "rates[3].inverse_rate": ["is too large to express as a rate"],
    }
    with read(engine) as conn, pytest.raises(NotFound):
        catalog.get_asset(conn, LIVE, code)


def test_assets_are_listed_by_code(engine: Engine) -> None:
    _asset(engine)
    with read(engine) as conn:
        items, total = catalog.list_assets(conn, LIVE, 0, 500)
        first_two, same_total = catalog.list_assets(conn, LIVE, 0, 2)
    codes = [a.code for a in items]
    assert {"USD", "EUR", "GBP"} <= set(codes) and codes == sorted(codes)
    assert total == same_total == len(items) and [a.code for a in first_two] == codes[:2]


# ---------------------------------------------------------------------------------- exchange rates
def test_a_new_rate_closes_the_open_one_and_a_retry_changes_nothing(engine: Engine) -> None:
    code = _asset(engine, None, StartingRate("USD", D("0.01")))
    for _ in range(2):  # the second is a retried request
        with write(engine) as conn:
            rates.add_rate(conn, LIVE, code.lower(), NewRate("usd", D("0.02"), valid_from=T1), T0)
    with read(engine) as conn:
        [usd] = catalog.get_asset(conn, LIVE, code).schedules
        before = rates.rate_in_force(conn, LIVE, code, "USD", T1 - timedelta(microseconds=1))
        after = rates.rate_in_force(conn, LIVE, code, "USD", T1)
    assert [(p.valid_from, p.valid_to, p.rate) for p in usd.periods] == [(T1, None, D("0.02")), (EPOCH, T1, D("0.01"))]
    assert before is not None and before.rate == D("0.01") and before.valid_to == T1
    assert after is not None and after.rate == D("0.02") and after.valid_to is None


def test_a_rate_without_a_start_starts_now(engine: Engine) -> None:
    code = _asset(engine)
    with write(engine) as conn:
        rates.add_rate(conn, LIVE, code, NewRate("GBP", D("0.5"), valid_to=T1), T0)
    with read(engine) as conn:
        found = rates.rate_in_force(conn, LIVE, code, "GBP", T0)
        assert rates.rate_in_force(conn, LIVE, code, "GBP", T1) is None  # valid_to is exclusive
    assert found is not None and (found.valid_from, found.valid_to, found.rate) == (T0, T1, D("0.5"))


def test_rates_that_cannot_be_scheduled(engine: Engine) -> None:
    code = _asset(engine)
    refused: list[tuple[str, NewRate, type[Exception], str]] = [
        ("NOPE" + code, NewRate("USD", D(1)), NotFound, "not found"),
        (code, NewRate(code, D(1)), Invalid, "source"),
        ("USD", NewRate("USD", D(1)), Conflict, "exactly one of itself"),
        (code, NewRate("USD", D(1), valid_from=T1, valid_to=T1), Invalid, "valid_to"),
    ]
    for asset, command, error, says in refused:
        with pytest.raises(error, match=says):
            with write(engine) as conn:
                rates.add_rate(conn, LIVE, asset, command, T0)
    with read(engine) as conn:
        assert catalog.get_asset(conn, LIVE, code).schedules == ()


def test_conversion_rounds_down_to_the_asset_precision(engine: Engine) -> None:
    whole = _asset(engine, 0, StartingRate("USD", inverse_rate=D(3)))
    cents = _asset(engine, 2, StartingRate("USD", D("0.03")))
    with read(engine) as conn:
        units, rate = rates.convert(conn, LIVE, whole, "usd", D("1.01"), T0)
        assert units == D(3) and rate.source == "USD"  # 3.03 units: never more than paid for
        assert rates.convert(conn, LIVE, cents, "USD", D(1), T0)[0] == D("33.33")  # 33.333…
        with pytest.raises(Invalid) as seen:
            rates.convert(conn, LIVE, cents, "EUR", D(1), T0, "currency")
    assert list(seen.value.errors) == ["currency"]


def test_a_quote_answers_both_rates(engine: Engine) -> None:
    code = _asset(engine, 2, StartingRate("USD", D("0.04")))
    with read(engine) as conn:
        quote = rates.quote(conn, LIVE, code.lower(), QuoteRequest("USD", D("1.00")), T0)
    assert (quote.source, quote.destination) == ("USD", code)
    assert (quote.source_amount, quote.destination_amount, quote.rate, quote.inverse_rate) == (
        D("1.00"), D(25), D("0.04"), D(25)
    )


# --------------------------------------------------------------------------------------- products
def _product(engine: Engine, asset: str, publish: bool = False) -> str:
    code = _code("p").lower()
    with write(engine) as conn:
        catalog.create_product(conn, LIVE, NewProduct(code=code, name="P", prices=[_price(asset)], publish=publish), T0)
    return code


def test_a_product_stores_its_documents_with_price_ids_and_upper_case_assets(engine: Engine) -> None:
    asset = _asset(engine)
    command = NewProduct(
        code=_code("p"), name="Chat", prices=[_price(asset.lower())], entitlements=[_entitlement(asset.lower())]
    )
    sent = deepcopy(command)
    with write(engine) as conn:
        created = catalog.create_product(conn, LIVE, command, T0)
    assert (created.code, created.version, created.status, created.is_default) == (command.code, 1, "draft", False)
    assert command == sent  # the caller's documents are not rewritten
    with read(engine) as conn:
        version = catalog.get_version(conn, LIVE, command.code, 1)
        by_id = catalog.get_version(conn, LIVE, created.product_id, 1)
    [price] = version.prices
    assert price["id"].startswith("prc") and price["pricing"][0]["asset"] == asset
    assert version.entitlements[0]["asset"] == asset and D(str(version.entitlements[0]["amount"])) == 10
    assert (by_id.product_id, by_id.code, by_id.name) == (created.product_id, command.code, "Chat")


def test_a_product_code_is_taken_once(engine: Engine) -> None:
    asset = _asset(engine)
    code = _product(engine, asset)
    with pytest.raises(Conflict, match="already exists"):
        with write(engine) as conn:
            catalog.create_product(conn, LIVE, NewProduct(code=code, name="again", prices=[_price(asset)]), T0)
    with read(engine) as conn:
        assert catalog.list_products(conn, LIVE, 0, 10, code)[1] == 1


def test_bad_documents_name_every_field_at_fault(engine: Engine) -> None:
    asset = _asset(engine)
    entitlements = [_entitlement(asset), _entitlement("NOPE" + asset, amount=D(0)), _entitlement(asset)]
    command = NewProduct(code=_code("p"), name="Bad", prices=[_price("NOPE" + asset)], entitlements=entitlements)
    with pytest.raises(Invalid) as seen:
        with write(engine) as conn:
            catalog.create_product(conn, LIVE, command, T0)
    assert seen.value.errors == {
        "prices[0].pricing[0].asset": [f"unknown asset {'NOPE' + asset!r}"],
        "entitlements[1].asset": [f"unknown asset {'NOPE' + asset!r}"],
        "entitlements[1].name": ["repeats an earlier entitlement's name"],
        "entitlements[1].amount": ["must be more than zero"],
        "entitlements[2].name": ["repeats an earlier entitlement's name"],
    }
    with read(engine) as conn:
        assert catalog.list_products(conn, LIVE, 0, 10, command.code) == ([], 0)


def test_publishing_moves_the_default_only_for_the_first_published_version(engine: Engine) -> None:
    code = _product(engine, _asset(engine))
    with write(engine) as conn:
        catalog.update_version(conn, LIVE, code, 1, VersionUpdate(publish=True))
        v2 = catalog.create_version(conn, LIVE, code, NewVersion(prices=[_price("USD")], publish=True), T1)
        v3 = catalog.create_version(conn, LIVE, code, NewVersion(prices=[_price("USD")]), T1)
    assert (v2.version, v2.status, v2.is_default) == (2, "published", False)
    assert (v3.version, v3.status, v3.is_default) == (3, "draft", False)
    with read(engine) as conn:
        product = catalog.get_product(conn, LIVE, code)
    assert product.default is not None and product.default.version == 1  # the first published version
    assert [(v.version, v.status) for v in product.versions] == [(3, "draft"), (2, "published"), (1, "published")]
    with write(engine) as conn:
        catalog.update_version(conn, LIVE, code, 2, VersionUpdate(make_default=True))
    with read(engine) as conn:
        assert catalog.get_version(conn, LIVE, code, "default").version == 2
        assert catalog.get_version(conn, LIVE, code, 1).is_default is False


def test_version_status_rules(engine: Engine) -> None:
    code = _product(engine, _asset(engine), publish=True)
    with write(engine) as conn:
        catalog.create_version(conn, LIVE, code, NewVersion(prices=[_price("USD")]), T1)
    refused = [
        (2, VersionUpdate(make_default=True), "only a published version can be the default"),
        (1, VersionUpdate(publish=False), "cannot return to draft"),
    ]
    for version, update, says in refused:
        with pytest.raises(Conflict, match=says):
            with write(engine) as conn:
                catalog.update_version(conn, LIVE, code, version, update)
    with write(engine) as conn:
        catalog.archive_version(conn, LIVE, code, 1)
    with pytest.raises(Conflict, match="archived"):
        with write(engine) as conn:
            catalog.update_version(conn, LIVE, code, 1, VersionUpdate(publish=True))
    with read(engine) as conn:
        archived = catalog.get_version(conn, LIVE, code, 1)
        assert (archived.status, archived.is_default) == ("archived", False)
        assert catalog.get_product(conn, LIVE, code).default is None
        with pytest.raises(NotFound, match="has no version default"):
            catalog.get_version(conn, LIVE, code, "default")
        with pytest.raises(NotFound, match="has no version 9"):
            catalog.version_row(conn, LIVE, code, 9)


def test_only_an_all_draft_product_can_be_deleted(engine: Engine) -> None:
    asset = _asset(engine)
    draft, published = _product(engine, asset), _product(engine, asset, publish=True)
    with write(engine) as conn:
        catalog.delete_product(conn, LIVE, draft)
    with pytest.raises(Conflict, match="archive its versions instead"):
        with write(engine) as conn:
            catalog.delete_product(conn, LIVE, published)
    with read(engine) as conn:
        with pytest.raises(NotFound, match=f"product {draft} not found"):
            catalog.get_product(conn, LIVE, draft)
        assert catalog.get_product(conn, LIVE, published).code == published


def test_subscribers_page_and_report_scheduled_subscriptions(engine: Engine) -> None:
    code, customer_ids = volume_world(engine, T0, D("0.01"), 3, D(0), funded=0)
    with read(engine) as conn:
        everyone, total = catalog.subscribers(conn, LIVE, code, 0, 10, T0)
        second, same_total = catalog.subscribers(conn, LIVE, code, 1, 1, T0)
        early, _ = catalog.subscribers(conn, LIVE, code, 0, 10, T0 - timedelta(days=1))
        product = catalog.get_product(conn, LIVE, code)
    assert total == same_total == 3
    assert sorted(s.customer_id for s in everyone) == sorted(customer_ids)
    assert [s.subscription_id for s in second] == [everyone[1].subscription_id]
    assert {(s.subscription_status, s.version, s.product_id) for s in everyone} == {("active", 1, product.id)}
    assert {s.subscription_status for s in early} == {"scheduled"}  # they start after that moment
    assert {s.external_id for s in everyone} == {f"{code}-{i}" for i in range(3)}
    with pytest.raises(Conflict):
        with write(engine) as conn:
            catalog.delete_product(conn, LIVE, code)
