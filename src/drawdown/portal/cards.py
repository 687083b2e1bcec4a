"""The portal's cards: what ``payments.cards`` offers (list, remove, make default), plus adding a card
through a Stripe SetupIntent: the portal creates it for the customer's Stripe customer (``begin``),
Stripe.js confirms it in the browser with the card typed (``confirmCardSetup``: the number never reaches
us), and the portal keeps the card it saved (``finish``). Stripe is called outside any transaction:
``stripe_customer`` commits before it asks Stripe."""

from __future__ import annotations

from sqlalchemy import Engine

from drawdown.core.errors import Invalid
from drawdown.core.scopes import Scope
from drawdown.payments import cards
from drawdown.payments.gateway import CardError, Gateway, UnknownPaymentMethod
from drawdown.payments.models import SavedCard

SETUP_PREFIX = "seti_"
UNREADABLE = "The card could not be saved. Please type it again."


def begin(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str) -> str:
    """A SetupIntent on the customer's Stripe customer; its client secret is for Stripe.js only."""
    gateway.config.check(scope)
    stripe_id = cards.stripe_customer(engine, gateway, scope, customer_id)
    made = gateway.create_setup_intent(stripe_id, {"drawdown_customer": customer_id, "drawdown_scope": str(scope.id)})
    return str(made["client_secret"])


def finish(engine: Engine, gateway: Gateway, scope: Scope, customer_id: str, setup_intent_id: str) -> SavedCard:
    """Keep the card a confirmed SetupIntent saved; the first card becomes the default.

    The SetupIntent must be this customer's (its Stripe customer): the id comes from the browser, so a
    SetupIntent of anyone else is refused like a card that could not be read."""
    if not setup_intent_id.startswith(SETUP_PREFIX) or len(setup_intent_id) > 200:
        raise Invalid.field("setup_intent", UNREADABLE)
    gateway.config.check(scope)
    stripe_id = cards.recorded_customer(engine, scope, customer_id)
    try:
        found = gateway.setup_intent(setup_intent_id)
    except UnknownPaymentMethod:
        raise Invalid.field("setup_intent", UNREADABLE) from None
    method = found.get("payment_method")
    method = method.get("id") if isinstance(method, dict) else method
    if stripe_id is None or found.get("customer") != stripe_id or found.get("status") != "succeeded" or not method:
        raise Invalid.field("setup_intent", UNREADABLE)
    if not any(pm["id"] == method for pm in gateway.payment_methods(stripe_id)):
        # Real Stripe attached it when the SetupIntent succeeded; localstripe leaves it to us.
        try:
            gateway.attach(str(method), stripe_id)
        except (CardError, UnknownPaymentMethod) as exc:
            raise Invalid.field("setup_intent", str(exc)) from None
    default = cards.default_card(gateway, stripe_id)
    if default is None:
        gateway.set_default_payment_method(stripe_id, str(method))
    return next(c for c in cards.cards_at(gateway, stripe_id) if c.id == method)
