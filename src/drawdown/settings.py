"""Settings from the environment (prefix DRAWDOWN_)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE = "sqlite:///" + str(Path("var") / "drawdown.db")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRAWDOWN_", extra="ignore")

    database_url: str = DEFAULT_SQLITE
    host: str = "127.0.0.1"
    port: int = 8000
    bootstrap_api_key: str | None = None
    # The request edge: bodies over this many bytes get 413 unread; after auth_failures_allowed wrong
    # keys from one client IP within auth_backoff_seconds it gets 429 (Retry-After, doubling) until
    # the back-off ends. Keys already in use from that IP are never slowed.
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    auth_failures_allowed: int = Field(10, ge=1)
    auth_backoff_seconds: float = Field(60, gt=0)
    # Overdraft a new wallet account may carry: a decimal amount, or "unlimited" (Credyt's default: usage is
    # billed in full and balances may go negative; gating spend is the platform's choice, docs/ledger.md).
    default_overdraft_limit: str = "unlimited"
    log_level: str = "info"
    # Base URL customers reach Drawdown at (payment links in required_actions).
    public_url: str = "http://127.0.0.1:8000"
    # How often ``serve`` runs the billing job (fixed fees, recurring usage); 0 turns it off.
    job_interval_seconds: float = 60
    # POST /events through the batching writer: many requests per transaction, one commit.
    group_commit: bool = True
    group_commit_max_batch: int = 256
    # The batching writer in a process of its own (usage/writer_process.py), so the event loop never
    # waits on it for the GIL: more single and batched events per second on both backends
    # (docs/performance.md, round five). False keeps it a thread of the server (a process lighter by the
    # child's ~100 MB). An app built with a clock other than the system's, or on an in-memory SQLite,
    # always keeps the thread (the child reads the system clock and opens its own connections).
    writer_process: bool = True
    # Server processes. Each has its own batching writer; customer locks are taken in id order, so
    # writers in several processes never deadlock (SQLite serialises them on its write lock).
    workers: int = 1
    # SQLite durability: "full" (default) syncs the WAL on every commit, so an answered write survives a
    # power loss; "normal" is faster but may lose the last commits then (docs/performance.md).
    sqlite_synchronous: str = "full"
    # Connections (`serve`): idle keep-alive sockets are closed after this many seconds; beyond
    # max_connections uvicorn answers 503 instead of running out of file descriptors; backlog is the
    # listen queue.
    keep_alive_seconds: int = 5
    max_connections: int = 1000
    backlog: int = 2048
    # Slow clients (`serve`): a request line and headers must arrive within header_timeout_seconds of the
    # connection opening or of the request's first byte, else the socket is closed; a body that sends no
    # new chunk for body_timeout_seconds is answered 408 and the connection closed.
    header_timeout_seconds: float = Field(10, gt=0)
    body_timeout_seconds: float = Field(30, gt=0)

    # Stripe (docs/payments.md). Without a secret key, top-ups answer 503 naming it; everything else works.
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Where the stripe library and the payment pages talk to Stripe: Stripe's own unless pointed at a
    # stand-in (the tests run localstripe).
    stripe_api_base: str = "https://api.stripe.com"
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # Ask Stripe to keep a card for off-session use when the customer saves it. localstripe refuses the
    # parameter, so the tests turn it off and save cards by attaching them instead.
    stripe_setup_future_usage: bool = True
    # The payment pages' branding, and how long a payment link lives.
    operator_name: str = "Drawdown"
    operator_logo_url: str | None = None
    operator_color: str = Field("#4f46e5", pattern=r"^#[0-9a-fA-F]{6}$")
    top_up_link_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    # The payments worker: how often it looks for auto top-ups to charge and top-ups to reconcile, and
    # how long a top-up may stay pending before Stripe is asked about it (lost webhooks).
    payments_interval_seconds: float = Field(2, gt=0)
    reconcile_after_seconds: float = Field(300, ge=0)
    # Webhooks out (docs/webhooks.md). Destinations on private, loopback or link-local addresses are
    # refused unless allowed (a receiver on the same host or network; the tests use one). The delivery
    # worker looks for work every webhooks_interval_seconds, sends at most webhooks_concurrency at once,
    # and gives each attempt webhooks_connect_timeout_seconds to connect and webhooks_timeout_seconds in all.
    webhooks_allow_private: bool = False
    webhooks_interval_seconds: float = Field(0.5, gt=0)
    webhooks_concurrency: int = Field(8, ge=1, le=64)
    webhooks_connect_timeout_seconds: float = Field(5, gt=0, le=30)
    webhooks_timeout_seconds: float = Field(10, gt=0, le=60)

    @field_validator("bootstrap_api_key")
    @classmethod
    def _bootstrap_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must have at least 32 characters (make one: openssl rand -hex 32)")
        return value

    @field_validator("default_overdraft_limit")
    @classmethod
    def _limit(cls, value: str) -> str:
        if value.strip().lower() != "unlimited":
            amount = Decimal(value)
            if not amount.is_finite() or amount < 0:
                raise ValueError("must be a non-negative decimal or 'unlimited'")
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _synchronous(cls, value: str) -> str:
        if value.strip().lower() not in ("full", "normal"):
            raise ValueError("must be 'full' or 'normal'")
        return value.strip().lower()

    @field_validator("keep_alive_seconds", "max_connections", "backlog")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    def overdraft_limit(self) -> Decimal | None:
        value = self.default_overdraft_limit.strip().lower()
        return None if value == "unlimited" else Decimal(value)


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and point them at psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
