"""The catalog's SQL: assets, exchange rates, products, versions and who subscribes to them.

Assets, rates and products are scoped: every statement on them filters (or sets) ``scope_id``.
Versions and subscriptions hang off a product the caller has already found in its scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, delete, func, insert, select, update

from drawdown.db.tables import (
    asset_rates,
    assets,
    customers,
    product_versions,
    products,
    subscription_products,
    subscriptions,
)

# ----------------------------------------------------------------------------------------- assets


def asset(conn: Connection, scope_id: int, code: str) -> Row[Any] | None:
    return conn.execute(select(assets).where(assets.c.scope_id == scope_id, assets.c.code == code)).first()


def is_fiat(conn: Connection, scope_id: int, code: str) -> bool:
    """False for an unknown code too."""
    q = select(assets.c.is_fiat).where(assets.c.scope_id == scope_id, assets.c.code == code)
    return bool(conn.execute(q).scalar())


def insert_asset(
    conn: Connection, scope_id: int, code: str, name: str, precision: int, label: str, symbol: str | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(assets).values(
            scope_id=scope_id, code=code, name=name, precision=precision, label=label, symbol=symbol, is_fiat=False,
            created_at=now,
        )
    )


def count_assets(conn: Connection, scope_id: int) -> int:
    q = select(func.count()).select_from(assets).where(assets.c.scope_id == scope_id)
    return int(conn.execute(q).scalar_one())


def page_assets(conn: Connection, scope_id: int, offset: int, limit: int) -> list[Row[Any]]:
    q = select(assets.c.code, assets.c.name).where(assets.c.scope_id == scope_id).order_by(assets.c.code)
    return list(conn.execute(q.offset(offset).limit(limit)))


def asset_codes(conn: Connection, scope_id: int) -> set[str]:
    return {r.code for r in conn.execute(select(assets.c.code).where(assets.c.scope_id == scope_id))}


# ---------------------------------------------------------------------------------- exchange rates
_r = asset_rates.c
# Built once: this runs for every fee and cost on the event hot path.
_IN_FORCE = (
    select(asset_rates)
    .where(
        _r.scope_id == bindparam("scope"),
        _r.asset_code == bindparam("asset"),
        _r.source == bindparam("source"),
        _r.valid_from <= bindparam("at", type_=_r.valid_from.type),
        (_r.valid_to.is_(None)) | (_r.valid_to > bindparam("at", type_=_r.valid_from.type)),
    )
    .order_by(_r.valid_from.desc(), _r.id.desc())
    .limit(1)
)


def rate_in_force(conn: Connection, scope_id: int, asset_code: str, source: str, at: datetime) -> Row[Any] | None:
    return conn.execute(_IN_FORCE, {"scope": scope_id, "asset": asset_code, "source": source, "at": at}).first()


def rates_of(conn: Connection, scope_id: int, asset_code: str) -> list[Row[Any]]:
    """Every rate of an asset, latest start first."""
    q = select(asset_rates).where(_r.scope_id == scope_id, _r.asset_code == asset_code)
    return list(conn.execute(q.order_by(_r.valid_from.desc())))


def rate_scheduled(
    conn: Connection, scope_id: int, asset_code: str, source: str, scaled_rate: int, start: datetime,
    end: datetime | None,
) -> bool:
    """Whether exactly this rate (value and validity) is already scheduled."""
    found = conn.execute(
        select(_r.id).where(
            _r.scope_id == scope_id,
            _r.asset_code == asset_code,
            _r.source == source,
            _r.valid_from == start,
            _r.rate == scaled_rate,
            (_r.valid_to.is_(None)) if end is None else (_r.valid_to == end),
        )
    ).first()
    return found is not None


def close_open_rate(conn: Connection, scope_id: int, asset_code: str, source: str, at: datetime) -> None:
    """The open-ended rate that started before ``at`` ends at ``at``."""
    conn.execute(
        update(asset_rates)
        .where(
            _r.scope_id == scope_id, _r.asset_code == asset_code, _r.source == source, _r.valid_to.is_(None),
            _r.valid_from < at,
        )
        .values(valid_to=at)
    )


def insert_rate(
    conn: Connection, scope_id: int, asset_code: str, source: str, scaled_rate: int, start: datetime,
    end: datetime | None, now: datetime,
) -> None:
    conn.execute(
        insert(asset_rates).values(
            scope_id=scope_id, asset_code=asset_code, source=source, rate=scaled_rate, valid_from=start, valid_to=end,
            created_at=now,
        )
    )


def insert_rates(
    conn: Connection, scope_id: int, asset_code: str, scaled_rates: list[tuple[str, int]], start: datetime,
    now: datetime,
) -> None:
    """Open-ended rates from ``start``, one per (source, scaled rate)."""
    if scaled_rates:
        conn.execute(
            insert(asset_rates),
            [
                {
                    "scope_id": scope_id, "asset_code": asset_code, "source": s, "rate": rate, "valid_from": start,
                    "created_at": now,
                }
                for s, rate in scaled_rates
            ],
        )


# --------------------------------------------------------------------------------------- products
_v = product_versions.c


def product(conn: Connection, scope_id: int, id_or_code: str) -> Row[Any] | None:
    return conn.execute(
        select(products).where(
            products.c.scope_id == scope_id, (products.c.id == id_or_code) | (products.c.code == id_or_code)
        )
    ).first()


def product_code_taken(conn: Connection, scope_id: int, code: str) -> bool:
    q = select(products.c.id).where(products.c.scope_id == scope_id, products.c.code == code)
    return conn.execute(q).first() is not None


def insert_product(conn: Connection, scope_id: int, product_id: str, code: str, name: str, now: datetime) -> None:
    conn.execute(insert(products).values(scope_id=scope_id, id=product_id, code=code, name=name, created_at=now))


def _listed(scope_id: int, code: str | None) -> list[ColumnElement[bool]]:
    """The filter of a listing: the scope, and the product code when one is given."""
    return [products.c.scope_id == scope_id, *([products.c.code == code] if code else [])]


def count_products(conn: Connection, scope_id: int, code: str | None) -> int:
    q = select(func.count()).select_from(products).where(*_listed(scope_id, code))
    return int(conn.execute(q).scalar_one())


def page_products(conn: Connection, scope_id: int, offset: int, limit: int, code: str | None) -> list[Row[Any]]:
    q = select(products).where(*_listed(scope_id, code)).order_by(products.c.created_at, products.c.id)
    return list(conn.execute(q.offset(offset).limit(limit)))


def delete_product(conn: Connection, scope_id: int, product_id: str) -> None:
    """The product's versions go with it; the caller found the product in ``scope_id``."""
    conn.execute(delete(product_versions).where(_v.product_id == product_id))
    conn.execute(delete(products).where(products.c.scope_id == scope_id, products.c.id == product_id))


def has_subscriptions(conn: Connection, product_id: str) -> bool:
    q = select(subscription_products.c.subscription_id).where(subscription_products.c.product_id == product_id)
    return conn.execute(q).first() is not None


# --------------------------------------------------------------------------------------- versions
def has_default_version(conn: Connection, product_id: str) -> bool:
    return conn.execute(select(_v.id).where(_v.product_id == product_id, _v.is_default)).first() is not None


def last_version(conn: Connection, product_id: str) -> int:
    """The highest version number of a product (0 when it has none)."""
    return int(conn.execute(select(func.max(_v.version)).where(_v.product_id == product_id)).scalar_one() or 0)


def insert_version(
    conn: Connection, version_id: str, product_id: str, version: int, status: str, is_default: bool,
    prices: list[dict[str, Any]], entitlements: list[dict[str, Any]], now: datetime,
) -> None:
    conn.execute(
        insert(product_versions).values(
            id=version_id, product_id=product_id, version=version, status=status, is_default=is_default,
            prices=prices, entitlements=entitlements, created_at=now,
        )
    )


def version(conn: Connection, product_id: str, number: int | None) -> Row[Any] | None:
    """Version ``number`` of a product, or its default version when ``number`` is None."""
    q = select(product_versions).where(_v.product_id == product_id)
    q = q.where(_v.is_default) if number is None else q.where(_v.version == number)
    return conn.execute(q).first()


def versions_of(conn: Connection, product_id: str) -> list[Row[Any]]:
    """A product's versions, latest first."""
    return list(conn.execute(select(product_versions).where(_v.product_id == product_id).order_by(_v.version.desc())))


def version_statuses(conn: Connection, product_id: str) -> set[str]:
    return {r.status for r in conn.execute(select(_v.status).where(_v.product_id == product_id))}


def clear_default(conn: Connection, product_id: str) -> None:
    conn.execute(update(product_versions).where(_v.product_id == product_id).values(is_default=False))


def set_version_state(conn: Connection, version_id: str, status: str, is_default: bool) -> None:
    conn.execute(update(product_versions).where(_v.id == version_id).values(status=status, is_default=is_default))


# ------------------------------------------------------------------------------------ subscribers
_SUBSCRIBERS = (
    subscription_products.join(subscriptions, subscriptions.c.id == subscription_products.c.subscription_id)
    .join(customers, customers.c.id == subscriptions.c.customer_id)
    .join(product_versions, _v.id == subscription_products.c.version_id)
)


def _subscribed(scope_id: int, product_id: str) -> list[ColumnElement[bool]]:
    # Subscribers share their product's scope; the filter on customers keeps that true even if not.
    return [subscription_products.c.product_id == product_id, customers.c.scope_id == scope_id]


def count_subscribers(conn: Connection, scope_id: int, product_id: str) -> int:
    q = select(func.count()).select_from(_SUBSCRIBERS).where(*_subscribed(scope_id, product_id))
    return int(conn.execute(q).scalar_one())


def page_subscribers(conn: Connection, scope_id: int, product_id: str, offset: int, limit: int) -> list[Row[Any]]:
    """Subscriptions to a product with their customer and version, oldest subscription first."""
    q = (
        select(
            customers.c.id.label("customer_id"), customers.c.name, customers.c.external_id, customers.c.email,
            subscriptions.c.id.label("subscription_id"), subscriptions.c.status, subscriptions.c.started_at,
            subscriptions.c.renews_at, _v.version,
        )
        .select_from(_SUBSCRIBERS)
        .where(*_subscribed(scope_id, product_id))
        .order_by(subscriptions.c.created_at, subscriptions.c.id)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(q))


# ---------------------------------------------------------------------------- version documents
_VERSION_DOCUMENTS = select(product_versions.c.id, product_versions.c.prices, product_versions.c.entitlements).where(
    product_versions.c.id.in_(bindparam("ids", expanding=True))
)


def version_documents(conn: Connection, version_ids: list[str]) -> list[Any]:
    """(id, prices, entitlements) of the product versions among ``version_ids``."""
    return [
        r for k in range(0, len(version_ids), 2000)
        for r in conn.execute(_VERSION_DOCUMENTS, {"ids": version_ids[k : k + 2000]})
    ]
