"""An event's content digest is stored with it (``events.request_hash``) and compared on every resend:
if the digest of the same request ever changed, every event stored before would be refused as changed
when a client retried it. These digests were computed by the code before the rooms rework."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from drawdown.api.events import _event
from drawdown.api.schemas.events import UsageEvent
from drawdown.codec import fingerprint
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.usage.models import UsageBatch

WITH_COSTS = {
    "id": "e1",
    "event_type": "x",
    "occurred_at": "2026-11-26T07:00:00+01:00",
    "subject": "run-1",
    "data": {"tokens": 12, "model": "a", "ok": True, "v": "1.50"},
    "costs": [
        {"id": "c1", "vendor_external_id": "openai", "amount": "0.0012", "currency": "usd", "metadata": {"k": "v"}},
        {"id": "c2", "vendor_id": "vnd_x", "units": 3, "unit_price": "0.5"},
    ],
}
BARE = {"id": "e2", "event_type": "x", "occurred_at": "2026-11-26T07:00:00Z"}


@pytest.mark.parametrize(
    ("raw", "digest"),
    [
        (WITH_COSTS, "5acaffdcf8605c28b6dfb2cb7011d3e25fb335e1807f51c2fe93386b07ed8b27"),
        (BARE, "23444cd6cb0a16f199d323723471e8428082039cc8f4be4df30df69b600c3489"),
    ],
)
def test_the_digest_of_a_request_never_changes(raw: dict[str, Any], digest: str) -> None:
    assert fingerprint(_event(UsageEvent.model_validate(raw)).doc()) == digest


def test_the_digest_taken_on_the_request_side_travels_to_a_writer_process() -> None:
    """The server takes each event's digest before handing its batch over (``UsageBatch.take_digests``), so
    that the writer does not: it must be the stored digest, and arrive with the pickled event."""
    event = _event(UsageEvent.model_validate(WITH_COSTS))
    digest = "5acaffdcf8605c28b6dfb2cb7011d3e25fb335e1807f51c2fe93386b07ed8b27"
    batch = UsageBatch(DEFAULT_LIVE, "cus_x", None, [event]).take_digests()
    arrived = pickle.loads(pickle.dumps(batch)).events[0]
    assert arrived.__dict__.get("digest") == digest  # carried, not taken again by the writer
    assert arrived.digest == digest
    assert dataclasses.replace(arrived, description="changed").digest != digest  # a changed event is not a replay
