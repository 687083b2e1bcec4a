"""Catalog results shaped as Credyt's JSON (assets, quotes, products, versions, subscribers).

Decimals stay Decimal: ExactJSONResponse writes them exactly.
"""

from __future__ import annotations

from typing import Any

from drawdown.catalog.models import (
    Asset,
    AssetCreated,
    AssetSummary,
    Product,
    ProductSummary,
    ProductVersion,
    Quote,
    RatePeriod,
    Subscriber,
    VersionCreated,
)

JSON = dict[str, Any]


def asset_created(a: AssetCreated) -> JSON:
    return {"code": a.code, "created_at": a.created_at}


def asset_summary(a: AssetSummary) -> JSON:
    return {"code": a.code, "name": a.name}


def _period(p: RatePeriod) -> JSON:
    return {"valid_from": p.valid_from, "valid_to": p.valid_to, "rate": p.rate, "inverse_rate": p.inverse_rate}


def asset(a: Asset) -> JSON:
    return {
        "code": a.code,
        "name": a.name,
        "precision": a.precision,
        "label": a.label,
        "symbol": a.symbol,
        "rates": [{"source": s.source, "schedule": [_period(p) for p in s.periods]} for s in a.schedules],
        "created_at": a.created_at,
    }


def quote(q: Quote) -> JSON:
    return {
        "source": q.source,
        "source_amount": q.source_amount,
        "destination": q.destination,
        "destination_amount": q.destination_amount,
        "rate": q.rate,
        "inverse_rate": q.inverse_rate,
    }


def version_created(v: VersionCreated) -> JSON:
    return {"id": v.product_id, "code": v.code, "version": v.version, "status": v.status, "is_default": v.is_default}


def product_summary(p: ProductSummary) -> JSON:
    return {"id": p.id, "code": p.code, "name": p.name}


def product(p: Product) -> JSON:
    default = p.default
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "default_version": None
        if default is None
        else {"version": default.version, "entitlements": default.entitlements, "prices": default.prices},
        "versions": [{"version": v.version, "created_at": v.created_at, "status": v.status} for v in p.versions],
    }


def product_version(v: ProductVersion) -> JSON:
    return {
        "id": v.product_id,
        "version": v.version,
        "code": v.code,
        "name": v.name,
        "prices": v.prices,
        "entitlements": v.entitlements,
        "status": v.status,
        "is_default": v.is_default,
    }


def subscriber(s: Subscriber) -> JSON:
    return {
        "customer_id": s.customer_id,
        "customer_name": s.customer_name,
        "external_id": s.external_id,
        "email": s.email,
        "subscription_id": s.subscription_id,
        "subscription_status": s.subscription_status,
        "started_at": s.started_at,
        "renews_at": s.renews_at,
        "product_rate_plan_id": s.product_id,
        "version": s.version,
    }
