"""Finding at Stripe a payment we did not get to record: an attempt that died between Stripe's answer
and our write leaves a top-up ``pending`` with no PaymentIntent id. Before charging again or giving
up, Stripe is asked which of the customer's recent charges carries ``metadata.top_up_id``.

Charges are listed rather than searched: the list is strongly consistent on Stripe (search is not),
and it is what localstripe can serve. On real Stripe the idempotency key makes a repeated charge safe
as well; this lookup is what makes it safe everywhere.
"""

from __future__ import annotations

from typing import Any

import structlog

from drawdown.payments.gateway import Gateway
from drawdown.payments.models import TopUp

log = structlog.get_logger()

CLOCK_SKEW_SECONDS = 60  # between our clock and Stripe's


def intent_for(gateway: Gateway, stripe_customer: str, top_up: TopUp) -> dict[str, Any] | None:
    """The PaymentIntent made for this top-up, if Stripe has one."""
    if top_up.payment_intent:
        return gateway.payment_intent(top_up.payment_intent)
    since = int(top_up.created_at.timestamp()) - CLOCK_SKEW_SECONDS
    for charge in gateway.charges_since(stripe_customer, since):
        intent_id = charge.get("payment_intent")
        if isinstance(intent_id, dict):
            intent_id = intent_id.get("id")
        if not intent_id:
            continue
        intent = gateway.payment_intent(str(intent_id))
        if (intent.get("metadata") or {}).get("top_up_id") == top_up.id:
            log.info("top_up_found_at_stripe", top_up_id=top_up.id, payment_intent=intent_id)
            return intent
    return None
