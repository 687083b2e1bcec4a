"""The portal's cards: what ``payments.cards`` offers (list, remove, make default), plus adding a card
from Stripe.js's ``createToken``, kept on the customer's Stripe customer as a card source
(``gateway.attach_token``, what the payment page does when a card is saved). A token works the same on
localstripe and on real Stripe, so the card is not collected through a SetupIntent (docs/portal.md).
Stripe is called outside any transaction: ``stripe_customer`` commits before it asks Stripe."""

from __future__ import annotations

from sqlalchemy import Engine

from drawdown.core.errors import Invalid
from drawdown.core.scopes import Scope
from drawdown.payments import cards
from drawdown.payments.gateway import CardError, Gateway
from drawdown.payments.models import SavedCard

TOKEN_PREFIX = "tok_"


def add_from_token(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, token: str) -> SavedCard:
    """Keep the tokenised card on the customer; the first card becomes the default."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Invalid.field("token", "The card could not be read. Please type it again.")
    stripe_id = cards.stripe_customer(engine, gateway, scope, customer_id)
    try:
        kept = gateway.attach_token(stripe_id, token)
    except CardError as exc:
        raise Invalid.field("token", str(exc)) from None
    default = cards.default_card(gateway, stripe_id)
    if default is None:
        gateway.set_default_source(stripe_id, str(kept["id"]))
        default = str(kept["id"])
    facts = kept.get("card") or kept
    return SavedCard(str(kept["id"]), facts.get("brand"), facts.get("last4"), facts.get("exp_month"),
                     facts.get("exp_year"), default == kept["id"])
