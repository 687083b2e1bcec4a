"""Webhooks (Credyt's destinations, tests and delivery log; rotation and redelivery are Drawdown's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import StringConstraints

from drawdown.api.schemas.common import Model

Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CreateWebhookDestinationRequest(Model):
    url: Url
    topics: list[Topic] = ["*"]
    connect: bool = False


class CreateWebhookDestinationResponse(Model):
    id: str
    secret: str
    created_at: datetime


class UpdateWebhookDestinationRequest(Model):
    url: Url | None = None
    topics: list[Topic] | None = None
    enabled: bool | None = None


class WebhookDestinationWithoutSecret(Model):
    id: str
    url: str
    topics: list[str]
    connect: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    disabled_at: datetime | None = None


class WebhookDestination(WebhookDestinationWithoutSecret):
    secret: str
    previous_secret_expires_at: datetime | None = None


class WebhookDestinations(Model):
    items: list[WebhookDestinationWithoutSecret]
    total_count: int


class TestWebhookResponse(Model):
    id: str


class WebhookAttempt(Model):
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None


class WebhookEventListItem(Model):
    id: str
    destination_id: str
    topic: str
    time: datetime
    successful_at: datetime | None = None
    failed_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    data: Any


class CursorPagination(Model):
    limit: int
    next: str | None = None
    prev: str | None = None


class CursorPageWebhookEventListItem(Model):
    models: list[WebhookEventListItem]
    pagination: CursorPagination


class RedeliverResponse(Model):
    id: str
    deliveries: int
