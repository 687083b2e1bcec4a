"""Assets, products and product versions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from drawdown.core import catalog as rules
from drawdown.core.errors import Conflict, Invalid, NotFound
from drawdown.core.ids import PRICE, PRODUCT, PRODUCT_VERSION, new_id
from drawdown.core.money import from_scaled, quantize, to_scaled
from drawdown.core.periods import EPOCH
from drawdown.db.tables import (
    asset_rates,
    assets,
    customers,
    product_versions,
    products,
    subscription_products,
    subscriptions,
)

DRAFT, PUBLISHED, ARCHIVED = "draft", "published", "archived"


# ----------------------------------------------------------------------------------------- assets
def create_asset(conn: Connection, body: dict[str, Any], now: datetime) -> dict:
    code = body["code"].upper()
    if conn.execute(select(assets.c.code).where(assets.c.code == code)).first():
        raise Conflict(f"asset {code} already exists")
    errors: dict[str, list[str]] = {}
    rates = []
    for i, r in enumerate(body.get("rates") or []):
        source = r["source"].upper()
        row = conn.execute(select(assets.c.is_fiat).where(assets.c.code == source)).first()
        if row is None or not row.is_fiat:
            errors.setdefault(f"rates[{i}].source", []).append(f"{source!r} is not a known fiat currency")
            continue
        rate = r["rate"] if r.get("rate") is not None else quantize(Decimal(1) / r["inverse_rate"])
        if rate == 0:
            errors.setdefault(f"rates[{i}].inverse_rate", []).append("is too large to express as a rate")
            continue
        # A starting rate is the asset's rate from the beginning (historic quotes and grants use it).
        rates.append({"asset_code": code, "source": source, "rate": to_scaled(rate), "valid_from": EPOCH, "created_at": now})
    if errors:
        raise Invalid(errors)
    conn.execute(
        insert(assets).values(
            code=code,
            name=body["name"],
            precision=body.get("precision") if body.get("precision") is not None else 2,
            label=body.get("label") or code,
            symbol=body.get("symbol"),
            is_fiat=False,
            created_at=now,
        )
    )
    if rates:
        conn.execute(insert(asset_rates), rates)
    return {"code": code, "created_at": now}


def list_assets(conn: Connection, offset: int, limit: int) -> tuple[list[dict], int]:
    total = conn.execute(select(func.count()).select_from(assets)).scalar_one()
    rows = conn.execute(select(assets.c.code, assets.c.name).order_by(assets.c.code).offset(offset).limit(limit))
    return [{"code": r.code, "name": r.name} for r in rows], total


def get_asset(conn: Connection, code: str) -> dict:
    row = conn.execute(select(assets).where(assets.c.code == code.upper())).first()
    if row is None:
        raise NotFound(f"asset {code} not found")
    schedules: dict[str, list[dict]] = {}
    for r in conn.execute(
        select(asset_rates).where(asset_rates.c.asset_code == row.code).order_by(asset_rates.c.valid_from.desc())
    ):
        rate = from_scaled(r.rate)
        schedules.setdefault(r.source, []).append(
            {"valid_from": r.valid_from, "valid_to": r.valid_to, "rate": rate, "inverse_rate": quantize(Decimal(1) / rate)}
        )
    return {
        "code": row.code,
        "name": row.name,
        "precision": row.precision,
        "label": row.label,
        "symbol": row.symbol,
        "rates": [{"source": s, "schedule": sched} for s, sched in schedules.items()],
        "created_at": row.created_at,
    }


# --------------------------------------------------------------------------------------- products
def _prepare_prices(conn: Connection, prices: list[dict], entitlements: list[dict]) -> list[dict]:
    errors: dict[str, list[str]] = {}
    known = {r.code for r in conn.execute(select(assets.c.code))}
    out = []
    for i, doc in enumerate(prices):
        doc = {**doc, "id": new_id(PRICE)}
        for key, messages in rules.check_price(doc, f"prices[{i}]").items():
            errors.setdefault(key, []).extend(messages)
        for j, pricing in enumerate(doc.get("pricing") or []):
            pricing["asset"] = pricing["asset"].upper()
            if pricing["asset"] not in known:
                errors.setdefault(f"prices[{i}].pricing[{j}].asset", []).append(f"unknown asset {pricing['asset']!r}")
        out.append(doc)
    names: set[str] = set()
    for i, e in enumerate(entitlements):
        e["asset"] = e["asset"].upper()
        if e["asset"] not in known:
            errors.setdefault(f"entitlements[{i}].asset", []).append(f"unknown asset {e['asset']!r}")
        if e["name"] in names:
            errors.setdefault(f"entitlements[{i}].name", []).append("repeats an earlier entitlement's name")
        names.add(e["name"])
        if Decimal(str(e["amount"])) <= 0:
            errors.setdefault(f"entitlements[{i}].amount", []).append("must be more than zero")
    if errors:
        raise Invalid(errors)
    return out


def _product_row(conn: Connection, product_id: str) -> Any:
    row = conn.execute(
        select(products).where((products.c.id == product_id) | (products.c.code == product_id))
    ).first()
    if row is None:
        raise NotFound(f"product {product_id} not found")
    return row


def create_product(conn: Connection, body: dict[str, Any], now: datetime) -> dict:
    if conn.execute(select(products.c.id).where(products.c.code == body["code"])).first():
        raise Conflict(f"a product with code {body['code']!r} already exists")
    entitlements = body.get("entitlements") or []
    prices = _prepare_prices(conn, body["prices"], entitlements)
    product_id = new_id(PRODUCT)
    conn.execute(insert(products).values(id=product_id, code=body["code"], name=body["name"], created_at=now))
    return _insert_version(conn, product_id, body["code"], 1, prices, entitlements, bool(body.get("publish")), now)


def _insert_version(
    conn: Connection, product_id: str, code: str, version: int, prices: list[dict], entitlements: list[dict],
    publish: bool, now: datetime,
) -> dict:
    has_default = conn.execute(
        select(product_versions.c.id).where(product_versions.c.product_id == product_id, product_versions.c.is_default)
    ).first()
    is_default = publish and not has_default
    conn.execute(
        insert(product_versions).values(
            id=new_id(PRODUCT_VERSION),
            product_id=product_id,
            version=version,
            status=PUBLISHED if publish else DRAFT,
            is_default=is_default,
            prices=prices,
            entitlements=entitlements,
            created_at=now,
        )
    )
    return {"id": product_id, "code": code, "version": version, "status": PUBLISHED if publish else DRAFT, "is_default": is_default}


def create_version(conn: Connection, product_id: str, body: dict[str, Any], now: datetime) -> dict:
    product = _product_row(conn, product_id)
    entitlements = body.get("entitlements") or []
    prices = _prepare_prices(conn, body["prices"], entitlements)
    last = conn.execute(
        select(func.max(product_versions.c.version)).where(product_versions.c.product_id == product.id)
    ).scalar_one()
    return _insert_version(conn, product.id, product.code, (last or 0) + 1, prices, entitlements, bool(body.get("publish")), now)


def list_products(conn: Connection, offset: int, limit: int, code: str | None) -> tuple[list[dict], int]:
    where = products.c.code == code if code else True
    total = conn.execute(select(func.count()).select_from(products).where(where)).scalar_one()
    rows = conn.execute(select(products).where(where).order_by(products.c.created_at, products.c.id).offset(offset).limit(limit))
    return [{"id": r.id, "code": r.code, "name": r.name} for r in rows], total


def version_row(conn: Connection, product_id: str, version: int | str) -> Any:
    product = _product_row(conn, product_id)
    q = select(product_versions).where(product_versions.c.product_id == product.id)
    q = q.where(product_versions.c.is_default) if version == "default" else q.where(product_versions.c.version == int(version))
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"product {product_id} has no version {version}")
    return product, row


def _version_doc(product: Any, row: Any) -> dict:
    return {
        "id": product.id,
        "version": row.version,
        "code": product.code,
        "name": product.name,
        "prices": row.prices,
        "entitlements": row.entitlements,
        "status": row.status,
        "is_default": row.is_default,
    }


def get_version(conn: Connection, product_id: str, version: int | str) -> dict:
    product, row = version_row(conn, product_id, version)
    return _version_doc(product, row)


def get_product(conn: Connection, product_id: str) -> dict:
    product = _product_row(conn, product_id)
    rows = conn.execute(
        select(product_versions).where(product_versions.c.product_id == product.id).order_by(product_versions.c.version.desc())
    ).all()
    default = next((r for r in rows if r.is_default), None)
    return {
        "id": product.id,
        "code": product.code,
        "name": product.name,
        "default_version": None
        if default is None
        else {"version": default.version, "entitlements": default.entitlements, "prices": default.prices},
        "versions": [{"version": r.version, "created_at": r.created_at, "status": r.status} for r in rows],
    }


def update_version(conn: Connection, product_id: str, version: int | str, body: dict[str, Any]) -> None:
    product, row = version_row(conn, product_id, version)
    status = row.status
    if body.get("publish"):
        if status == ARCHIVED:
            raise Conflict(f"version {row.version} is archived and cannot be published")
        status = PUBLISHED
    elif body.get("publish") is False and status == PUBLISHED:
        raise Conflict(f"version {row.version} is published; a published version cannot return to draft")
    make_default = bool(body.get("make_default"))
    if make_default and status != PUBLISHED:
        raise Conflict("only a published version can be the default")
    has_default = conn.execute(
        select(product_versions.c.id).where(product_versions.c.product_id == product.id, product_versions.c.is_default)
    ).first()
    if status == PUBLISHED and not has_default:
        make_default = True  # a product's first published version is its default
    if make_default:
        conn.execute(update(product_versions).where(product_versions.c.product_id == product.id).values(is_default=False))
    conn.execute(
        update(product_versions)
        .where(product_versions.c.id == row.id)
        .values(status=status, is_default=make_default or (row.is_default and status == PUBLISHED))
    )


def archive_version(conn: Connection, product_id: str, version: int | str) -> None:
    _, row = version_row(conn, product_id, version)
    conn.execute(update(product_versions).where(product_versions.c.id == row.id).values(status=ARCHIVED, is_default=False))


def delete_product(conn: Connection, product_id: str) -> None:
    product = _product_row(conn, product_id)
    statuses = {r.status for r in conn.execute(select(product_versions.c.status).where(product_versions.c.product_id == product.id))}
    used = conn.execute(select(subscription_products.c.subscription_id).where(subscription_products.c.product_id == product.id)).first()
    if statuses - {DRAFT} or used:
        raise Conflict("only a product whose versions are all drafts can be deleted; archive its versions instead")
    conn.execute(delete(product_versions).where(product_versions.c.product_id == product.id))
    conn.execute(delete(products).where(products.c.id == product.id))


def subscribers(conn: Connection, product_id: str, offset: int, limit: int, now: datetime) -> tuple[list[dict], int]:
    product = _product_row(conn, product_id)
    base = (
        subscription_products.join(subscriptions, subscriptions.c.id == subscription_products.c.subscription_id)
        .join(customers, customers.c.id == subscriptions.c.customer_id)
        .join(product_versions, product_versions.c.id == subscription_products.c.version_id)
    )
    where = subscription_products.c.product_id == product.id
    total = conn.execute(select(func.count()).select_from(base).where(where)).scalar_one()
    rows = conn.execute(
        select(
            customers.c.id.label("customer_id"), customers.c.name, customers.c.external_id, customers.c.email,
            subscriptions.c.id.label("subscription_id"), subscriptions.c.status, subscriptions.c.started_at,
            subscriptions.c.renews_at, product_versions.c.version,
        )
        .select_from(base)
        .where(where)
        .order_by(subscriptions.c.created_at, subscriptions.c.id)
        .offset(offset)
        .limit(limit)
    )
    items = [
        {
            "customer_id": r.customer_id,
            "customer_name": r.name,
            "external_id": r.external_id,
            "email": r.email,
            "subscription_id": r.subscription_id,
            "subscription_status": "scheduled" if r.status == "active" and r.started_at > now else r.status,
            "started_at": r.started_at,
            "renews_at": r.renews_at,
            "product_rate_plan_id": product.id,
            "version": r.version,
        }
        for r in rows
    ]
    return items, total
