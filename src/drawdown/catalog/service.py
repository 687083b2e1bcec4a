"""Assets, products and product versions: the catalog's price_rules.

Everything here acts in one scope: codes are unique per scope, and an asset or product of another
scope is answered exactly like an unknown one."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row

from drawdown.catalog import repository as repo
from drawdown.catalog.models import (
    Asset,
    AssetCreated,
    AssetSummary,
    Document,
    NewAsset,
    NewProduct,
    NewVersion,
    Product,
    ProductSummary,
    ProductVersion,
    RatePeriod,
    RateSchedule,
    Subscriber,
    VersionCreated,
    VersionRef,
    VersionUpdate,
)
from drawdown.core import catalog as price_rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.ids import PRICE, PRODUCT, PRODUCT_VERSION, new_id
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.core.periods import EPOCH
from drawdown.core.scopes import Scope

DRAFT, PUBLISHED, ARCHIVED = "draft", "published", "archived"
DEFAULT_PRECISION = 2

Errors = dict[str, list[str]]


# ----------------------------------------------------------------------------------------- assets
def create_asset(conn: Connection, scope: Scope, command: NewAsset, now: datetime) -> AssetCreated:
    code = command.code.upper()
    if repo.asset(conn, scope.id, code) is not None:
        raise Conflict(f"asset {code} already exists")
    starting = _starting_rates(conn, scope, command)
    precision = command.precision if command.precision is not None else DEFAULT_PRECISION
    repo.insert_asset(conn, scope.id, code, command.name, precision, command.label or code, command.symbol, now)
    # A starting rate is the asset's rate from the beginning (historic quotes and grants use it).
    repo.insert_rates(conn, scope.id, code, starting, EPOCH, now)
    return AssetCreated(code=code, created_at=now)


def _starting_rates(conn: Connection, scope: Scope, command: NewAsset) -> list[tuple[str, int]]:
    """(source, scaled rate) per starting rate; Invalid naming every bad one."""
    errors: Errors = {}
    out = []
    for i, r in enumerate(command.rates):
        source = r.source.upper()
        if not repo.is_fiat(conn, scope.id, source):
            errors.setdefault(f"rates[{i}].source", []).append(f"{source!r} is not a known fiat currency")
            continue
        rate = r.rate if r.rate is not None else quantize(Decimal(1) / _given(r.inverse_rate))
        if rate == 0:
            errors.setdefault(f"rates[{i}].inverse_rate", []).append("is too large to express as a rate")
            continue
        out.append((source, to_scaled(rate)))
    if errors:
        raise Invalid(errors)
    return out


def _given(value: Decimal | None) -> Decimal:
    # The API refuses a starting rate with neither; a direct caller gets the same answer.
    if value is None:
        raise Invalid.field("rates", "give rate or inverse_rate")
    return value


def list_assets(conn: Connection, scope: Scope, offset: int, limit: int) -> tuple[list[AssetSummary], int]:
    total = repo.count_assets(conn, scope.id)
    return [AssetSummary(r.code, r.name) for r in repo.page_assets(conn, scope.id, offset, limit)], total


def asset_facts(conn: Connection, scope: Scope, code: str) -> tuple[int, bool] | None:
    """(precision, is fiat) of an asset of the scope, or None: what a payment needs to know of it."""
    row = repo.asset(conn, scope.id, code.upper())
    return None if row is None else (row.precision, bool(row.is_fiat))


def get_asset(conn: Connection, scope: Scope, code: str) -> Asset:
    row = repo.asset(conn, scope.id, code.upper())
    if row is None:
        raise NotFound(f"asset {code} not found")
    # Grouped by source in the order each source first appears among the rates, latest start first.
    periods: dict[str, list[RatePeriod]] = {}
    for r in repo.rates_of(conn, scope.id, row.code):
        rate = from_scaled(r.rate)
        periods.setdefault(r.source, []).append(RatePeriod(r.valid_from, r.valid_to, rate, quantize(Decimal(1) / rate)))
    return Asset(
        code=row.code,
        name=row.name,
        precision=row.precision,
        label=row.label,
        symbol=row.symbol,
        schedules=tuple(RateSchedule(source, tuple(p)) for source, p in periods.items()),
        created_at=row.created_at,
    )


# --------------------------------------------------------------------------------------- products
def _documents(
    conn: Connection, scope: Scope, prices: list[Document], entitlements: list[Document]
) -> tuple[list[Document], ...]:
    """(prices, entitlements) as a version stores them: each price with a fresh id, asset codes in
    upper case; Invalid naming every problem (an asset of another scope is unknown). The caller's
    documents are left as they were."""
    errors: Errors = {}
    known = repo.asset_codes(conn, scope.id)
    out = [_price(doc, i, known, errors) for i, doc in enumerate(prices)]
    kept = []
    names: set[str] = set()
    for i, e in enumerate(entitlements):
        e = {**e, "asset": e["asset"].upper()}
        if e["asset"] not in known:
            errors.setdefault(f"entitlements[{i}].asset", []).append(f"unknown asset {e['asset']!r}")
        if e["name"] in names:
            errors.setdefault(f"entitlements[{i}].name", []).append("repeats an earlier entitlement's name")
        names.add(e["name"])
        if Decimal(str(e["amount"])) <= 0:
            errors.setdefault(f"entitlements[{i}].amount", []).append("must be more than zero")
        kept.append(e)
    if errors:
        raise Invalid(errors)
    return out, kept


def _price(doc: Document, i: int, known: set[str], errors: Errors) -> Document:
    doc = {**doc, "id": new_id(PRICE)}
    for key, messages in price_rules.check_price(doc, f"prices[{i}]").items():
        errors.setdefault(key, []).extend(messages)
    if doc.get("pricing"):
        doc["pricing"] = [{**p, "asset": p["asset"].upper()} for p in doc["pricing"]]
    for j, pricing in enumerate(doc.get("pricing") or []):
        if pricing["asset"] not in known:
            errors.setdefault(f"prices[{i}].pricing[{j}].asset", []).append(f"unknown asset {pricing['asset']!r}")
    return doc


def _product(conn: Connection, scope: Scope, product_id: str) -> Row[Any]:
    row = repo.product(conn, scope.id, product_id)
    if row is None:
        raise NotFound(f"product {product_id} not found")
    return row


def create_product(conn: Connection, scope: Scope, command: NewProduct, now: datetime) -> VersionCreated:
    if repo.product_code_taken(conn, scope.id, command.code):
        raise Conflict(f"a product with code {command.code!r} already exists")
    prices, entitlements = _documents(conn, scope, command.prices, command.entitlements)
    product_id = new_id(PRODUCT)
    repo.insert_product(conn, scope.id, product_id, command.code, command.name, now)
    return _add_version(conn, product_id, command.code, 1, prices, entitlements, command.publish, now)


def create_version(
    conn: Connection, scope: Scope, product_id: str, command: NewVersion, now: datetime
) -> VersionCreated:
    product = _product(conn, scope, product_id)
    prices, entitlements = _documents(conn, scope, command.prices, command.entitlements)
    number = repo.last_version(conn, product.id) + 1
    return _add_version(conn, product.id, product.code, number, prices, entitlements, command.publish, now)


def _add_version(
    conn: Connection,
    product_id: str,
    code: str,
    number: int,
    prices: list[Document],
    entitlements: list[Document],
    publish: bool,
    now: datetime,
) -> VersionCreated:
    # A product's first published version is its default.
    is_default = publish and not repo.has_default_version(conn, product_id)
    status = PUBLISHED if publish else DRAFT
    repo.insert_version(
        conn, new_id(PRODUCT_VERSION), product_id, number, status, is_default, prices, entitlements, now
    )
    return VersionCreated(product_id=product_id, code=code, version=number, status=status, is_default=is_default)


def list_products(
    conn: Connection, scope: Scope, offset: int, limit: int, code: str | None
) -> tuple[list[ProductSummary], int]:
    total = repo.count_products(conn, scope.id, code)
    rows = repo.page_products(conn, scope.id, offset, limit, code)
    return [ProductSummary(r.id, r.code, r.name) for r in rows], total


def version_row(
    conn: Connection, scope: Scope, product_id: str, version: VersionRef
) -> tuple[Row[Any], Row[Any]]:
    """(product row, version row) of a product named by id or code in ``scope``; NotFound when either
    is missing. The version is read only through the product found in scope."""
    product = _product(conn, scope, product_id)
    row = repo.version(conn, product.id, None if version == "default" else int(version))
    if row is None:
        raise NotFound(f"product {product_id} has no version {version}")
    return product, row


def _version(product: Row[Any], row: Row[Any]) -> ProductVersion:
    return ProductVersion(
        product_id=product.id,
        code=product.code,
        name=product.name,
        version=row.version,
        status=row.status,
        is_default=row.is_default,
        prices=row.prices,
        entitlements=row.entitlements,
        created_at=row.created_at,
    )


def get_version(conn: Connection, scope: Scope, product_id: str, version: VersionRef) -> ProductVersion:
    return _version(*version_row(conn, scope, product_id, version))


def get_product(conn: Connection, scope: Scope, product_id: str) -> Product:
    product = _product(conn, scope, product_id)
    versions = tuple(_version(product, r) for r in repo.versions_of(conn, product.id))
    default = next((v for v in versions if v.is_default), None)
    return Product(id=product.id, code=product.code, name=product.name, default=default, versions=versions)


def update_version(
    conn: Connection, scope: Scope, product_id: str, version: VersionRef, command: VersionUpdate
) -> None:
    """Publish a version and/or make it the default; a published version never returns to draft."""
    product, row = version_row(conn, scope, product_id, version)
    status = row.status
    if command.publish:
        if status == ARCHIVED:
            raise Conflict(f"version {row.version} is archived and cannot be published")
        status = PUBLISHED
    elif command.publish is False and status == PUBLISHED:
        raise Conflict(f"version {row.version} is published; a published version cannot return to draft")
    make_default = command.make_default
    if make_default and status != PUBLISHED:
        raise Conflict("only a published version can be the default")
    if status == PUBLISHED and not repo.has_default_version(conn, product.id):
        make_default = True  # a product's first published version is its default
    if make_default:
        repo.clear_default(conn, product.id)
    repo.set_version_state(conn, row.id, status, make_default or (row.is_default and status == PUBLISHED))


def archive_version(conn: Connection, scope: Scope, product_id: str, version: VersionRef) -> None:
    _, row = version_row(conn, scope, product_id, version)
    repo.set_version_state(conn, row.id, ARCHIVED, False)


def delete_product(conn: Connection, scope: Scope, product_id: str) -> None:
    """Only a product never published nor subscribed to can go; others are archived version by version."""
    product = _product(conn, scope, product_id)
    if repo.version_statuses(conn, product.id) - {DRAFT} or repo.has_subscriptions(conn, product.id):
        raise Conflict("only a product whose versions are all drafts can be deleted; archive its versions instead")
    repo.delete_product(conn, scope.id, product.id)


def subscribers(
    conn: Connection, scope: Scope, product_id: str, offset: int, limit: int, now: datetime
) -> tuple[list[Subscriber], int]:
    product = _product(conn, scope, product_id)
    total = repo.count_subscribers(conn, scope.id, product.id)
    rows = repo.page_subscribers(conn, scope.id, product.id, offset, limit)
    return [_subscriber(r, product.id, now) for r in rows], total


def _subscriber(r: Row[Any], product_id: str, now: datetime) -> Subscriber:
    # An active subscription that starts later is reported as scheduled.
    status = "scheduled" if r.status == "active" and r.started_at > now else r.status
    return Subscriber(
        customer_id=r.customer_id,
        customer_name=r.name,
        external_id=r.external_id,
        email=r.email,
        subscription_id=r.subscription_id,
        subscription_status=status,
        started_at=r.started_at,
        renews_at=r.renews_at,
        product_id=product_id,
        version=r.version,
    )
