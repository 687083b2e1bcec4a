"""Customer and subscription results shaped as Credyt's JSON."""

from __future__ import annotations

from typing import Any

from drawdown.customers.models import Customer, CustomerCreated, CustomerSummary, Subscription

JSON = dict[str, Any]


def subscription(s: Subscription) -> JSON:
    actions = s.required_actions
    return {
        "id": s.id,
        "started_at": s.started_at,
        "renews_at": s.renews_at,
        "status": s.status,
        "products": [{"id": p.id, "code": p.code, "version": p.version} for p in s.products],
        "required_actions": None if actions is None else [
            {"type": a.type, "redirect_url": a.redirect_url} for a in actions
        ],
    }


def customer_created(c: CustomerCreated) -> JSON:
    return {"id": c.id, "subscriptions": [subscription(s) for s in c.subscriptions]}


def customer_summary(c: CustomerSummary) -> JSON:
    return {
        "id": c.id,
        "external_id": c.external_id,
        "name": c.name,
        "email": c.email,
        "active_subscription_count": c.active_subscription_count,
    }


def customer(c: Customer) -> JSON:
    accounts = c.external_accounts
    return {
        **customer_summary(c.summary),
        "created_at": c.created_at,
        "metadata": c.metadata,
        "external_accounts": None if accounts is None else [
            {"provider": a.provider, "provider_id": a.provider_id} for a in accounts
        ],
        "subscriptions": [subscription(s) for s in c.subscriptions],
    }
