"""Stripe, through the official ``stripe`` library: the only place that talks to it.

Nothing here is called while a billing transaction or a customer lock is held: callers read what
they need, commit, call Stripe, then write what Stripe answered in a new transaction.

Amounts cross this boundary in minor units (``core.money.to_minor``); Stripe's objects come back as
plain dicts so that no caller depends on the library's classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from drawdown.core.errors import Conflict
from drawdown.core.scopes import LIVE, Scope
from drawdown.settings import Settings


class PaymentsUnavailable(Conflict):
    """Stripe is not configured (or not for this environment): 503, naming the setting."""

    status = 503
    title = "Payments unavailable"


class CardError(Exception):
    """Stripe refused a charge (declined, authentication required): the customer's problem, not ours."""

    def __init__(self, message: str, code: str | None, payment_intent: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.code = code
        self.payment_intent = payment_intent


class UnknownPaymentMethod(Exception):
    """Stripe does not know the payment method named (or will not attach it)."""


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str | None
    publishable_key: str | None
    webhook_secret: str | None
    api_base: str
    js_url: str
    setup_future_usage: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeConfig:
        return cls(
            secret_key=settings.stripe_secret_key,
            publishable_key=settings.stripe_publishable_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            js_url=settings.stripe_js_url,
            setup_future_usage=settings.stripe_setup_future_usage,
        )

    def check(self, scope: Scope) -> None:
        """Refuse to move money where it must not: no key at all, or a live key in a test environment."""
        if not self.secret_key:
            raise PaymentsUnavailable("payments need DRAWDOWN_STRIPE_SECRET_KEY (docs/payments.md)")
        if scope.environment != LIVE and self.secret_key.startswith(("sk_live_", "rk_live_")):
            raise PaymentsUnavailable(
                "DRAWDOWN_STRIPE_SECRET_KEY is a live key: a test environment never moves live money"
            )


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class Gateway:
    def __init__(self, config: StripeConfig) -> None:
        self.config = config
        self._client = (
            stripe.StripeClient(config.secret_key, base_addresses={"api": config.api_base}, max_network_retries=2)
            if config.secret_key
            else None
        )

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise PaymentsUnavailable("payments need DRAWDOWN_STRIPE_SECRET_KEY (docs/payments.md)")
        return self._client

    # -------------------------------------------------------------------------------- customers
    def create_customer(self, email: str | None, name: str | None, metadata: dict[str, str]) -> str:
        params: dict[str, Any] = {"metadata": metadata}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        return str(self.client.v1.customers.create(params=params).id)  # type: ignore[arg-type]

    def default_payment_method(self, customer: str) -> str | None:
        found = self.client.v1.customers.retrieve(customer)
        value = getattr(getattr(found, "invoice_settings", None), "default_payment_method", None)
        return str(value) if value else None

    def set_default_payment_method(self, customer: str, payment_method: str | None) -> None:
        params: Any = {"invoice_settings": {"default_payment_method": payment_method or ""}}
        self.client.v1.customers.update(customer, params=params)

    # ----------------------------------------------------------------------------------- cards
    def payment_methods(self, customer: str) -> list[dict[str, Any]]:
        found = self.client.v1.payment_methods.list(params={"customer": customer, "type": "card"})
        return [_plain(pm) for pm in found.data]

    def attach(self, payment_method: str, customer: str) -> dict[str, Any]:
        """Keep a PaymentMethod on the customer; an unknown one raises UnknownPaymentMethod."""
        try:
            return _plain(self.client.v1.payment_methods.attach(payment_method, params={"customer": customer}))
        except stripe.CardError as exc:
            raise CardError(exc.user_message or str(exc), exc.code, None) from None
        except stripe.InvalidRequestError as exc:
            raise UnknownPaymentMethod(exc.user_message or str(exc)) from None

    def detach(self, payment_method: str) -> None:
        self.client.v1.payment_methods.detach(payment_method)

    def attach_token(self, customer: str, token: str) -> dict[str, Any]:
        """A card from Stripe.js's ``createToken``, kept on the customer (a ``card_…`` usable as a payment method)."""
        try:
            return _plain(self.client.v1.customers.payment_sources.create(customer, params={"source": token}))
        except stripe.CardError as exc:
            raise CardError(exc.user_message or str(exc), exc.code, None) from None

    def create_setup_intent(self, customer: str, metadata: dict[str, str]) -> dict[str, Any]:
        """A SetupIntent that saves a card on the customer for later, off-session charges (auto top-up);
        Stripe.js confirms it in the browser with its ``client_secret``."""
        params: Any = {"customer": customer, "usage": "off_session", "metadata": metadata}
        return _plain(self.client.v1.setup_intents.create(params=params))

    def setup_intent(self, setup_intent: str) -> dict[str, Any]:
        """A SetupIntent as Stripe has it; an unknown id raises UnknownPaymentMethod."""
        try:
            return _plain(self.client.v1.setup_intents.retrieve(setup_intent))
        except stripe.InvalidRequestError as exc:
            raise UnknownPaymentMethod(exc.user_message or str(exc)) from None

    def delete_source(self, customer: str, source: str) -> None:
        """Remove a card kept by ``attach_token`` (a ``card_…`` source, which PaymentMethod detach does not take)."""
        self.client.v1.customers.payment_sources.delete(customer, source)

    def customer(self, customer: str) -> dict[str, Any]:
        return _plain(self.client.v1.customers.retrieve(customer))

    def delete_customer(self, customer: str) -> None:
        self.client.v1.customers.delete(customer)

    def card_sources(self, customer: str) -> list[dict[str, Any]]:
        """Cards kept as sources (``card_…``, from ``attach_token``): ``payment_methods`` does not list
        them on localstripe (real Stripe lists both)."""
        # No ``limit``: localstripe refuses it (its page is 10); real Stripe pages on through the iterator.
        found = self.client.v1.customers.payment_sources.list(customer, params={"object": "card"})
        return [_plain(s) for s in found.auto_paging_iter()]

    def set_default_source(self, customer: str, source: str) -> None:
        """Make a ``card_…`` source the default (``invoice_settings`` only takes ``pm_…``)."""
        params: Any = {"default_source": source, "invoice_settings": {"default_payment_method": ""}}
        self.client.v1.customers.update(customer, params=params)

    def charges_since(self, customer: str, after: int) -> list[dict[str, Any]]:
        """The customer's charges created after ``after`` (Unix seconds), every page: strongly
        consistent on Stripe (unlike search), and what localstripe can list by customer."""
        params: Any = {"customer": customer, "created": {"gt": after}, "limit": 100}
        return [_plain(c) for c in self.client.v1.charges.list(params=params).auto_paging_iter()]

    # ------------------------------------------------------------------------ payment intents
    def create_payment_intent(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer: str,
        metadata: dict[str, str],
        idempotency_key: str,
        payment_method: str | None = None,
        confirm: bool = False,
        off_session: bool = False,
        save_card: bool = False,
    ) -> dict[str, Any]:
        """A PaymentIntent; with ``confirm`` it is charged at once. A declined card raises CardError
        carrying the PaymentIntent as Stripe left it."""
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "customer": customer,
            "metadata": metadata,
        }
        if payment_method:
            params["payment_method"] = payment_method
        if confirm:
            params["confirm"] = True
        if off_session:
            params["off_session"] = True
        if save_card and self.config.setup_future_usage:
            params["setup_future_usage"] = "off_session"
        try:
            created = self.client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            intent = getattr(exc.error, "payment_intent", None) if exc.error else None
            raise CardError(exc.user_message or str(exc), exc.code, _plain(intent) if intent else None) from None
        return _plain(created)

    def payment_intent(self, payment_intent: str) -> dict[str, Any]:
        return _plain(self.client.v1.payment_intents.retrieve(payment_intent))

    def cancel_payment_intent(self, payment_intent: str) -> None:
        self.client.v1.payment_intents.cancel(payment_intent)

    # --------------------------------------------------------------------------------- refunds
    def refund(self, payment_intent: str, amount_minor: int, idempotency_key: str) -> dict[str, Any]:
        created = self.client.v1.refunds.create(
            params={"payment_intent": payment_intent, "amount": amount_minor},
            options={"idempotency_key": idempotency_key},
        )
        return _plain(created)

    # -------------------------------------------------------------------------------- webhooks
    def event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event a webhook delivery carries, if its signature is good and fresh (ValueError if not)."""
        if not self.config.webhook_secret:
            raise PaymentsUnavailable("Stripe webhooks need DRAWDOWN_STRIPE_WEBHOOK_SECRET (docs/payments.md)")
        try:
            event = stripe.Webhook.construct_event(payload, signature or "", self.config.webhook_secret)
        except stripe.SignatureVerificationError as exc:
            raise ValueError(f"the Stripe-Signature header does not verify: {exc.user_message or exc}") from None
        return _plain(event)
