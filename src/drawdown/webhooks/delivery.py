"""Delivery: events fanned out to destinations after their commit, then sent, signed, one attempt at
a time, with the outcome written back. Nothing here runs inside a billing transaction or holds a lock
while a receiver is called: an attempt is claimed in one short transaction, sent with none open, and
recorded in another.

The rules (docs/webhooks.md):

- **At least once**: a delivery stays ``pending`` until a 2xx answer is recorded. A claim pushes its
  ``next_attempt_at`` past the attempt's time bound, so a crash mid-attempt makes it due again.
- **In order per (destination, customer)**: a delivery waits while an earlier event for the same
  customer to the same destination is pending (events without a customer are not ordered).
- **Back-off**: after the n-th failed attempt the next is due in ``min(30 s × 3^(n-1), 12 h)`` with
  ±20 % jitter; once 72 hours have passed since the first attempt, a failure gives the delivery up
  (``failed``; it can be redelivered).
- **Disabling**: a destination whose attempts have all failed for 72 hours, at least 10 of them in a row,
  is disabled (``enabled`` false, ``disabled_reason``), logged ``webhook_destination_disabled`` and
  counted in ``drawdown_webhook_destinations_disabled``; its deliveries wait until it is enabled again.
- **Bounds**: connect and total time per attempt (settings), no redirects followed (a 3xx is a
  failure), at most 64 KiB of the answer read.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine

from drawdown import __version__
from drawdown.codec import iso
from drawdown.db.engine import read, write
from drawdown.ops.metrics import WEBHOOKS
from drawdown.settings import Settings
from drawdown.webhooks import queue, signing, urls
from drawdown.webhooks.models import FAILED, PENDING, SUCCEEDED

log = structlog.get_logger()

FIRST_DELAY = timedelta(seconds=30)
GROWTH = 3
MAX_DELAY = timedelta(hours=12)
JITTER = 0.2
GIVE_UP_AFTER = timedelta(hours=72)
DISABLE_AFTER = timedelta(hours=72)
DISABLE_AFTER_FAILURES = 10
MAX_RESPONSE_BYTES = 64 * 1024
KEPT_RESPONSE_CHARS = 1024
FAN_OUT_BATCH = 500


def backoff(failed_attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long after its ``failed_attempts``-th failure a delivery is tried again."""
    base: timedelta = min(FIRST_DELAY * GROWTH ** min(max(failed_attempts - 1, 0), 20), MAX_DELAY)
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return base * spread


def _matches(topics: list[str], topic: str) -> bool:
    return "*" in topics or topic in topics


def fan_out(engine: Engine, now: datetime) -> int:
    """Deliveries for events committed but not yet fanned out; the number of events handled."""
    with read(engine) as conn:
        if not queue.any_unfanned(conn):
            return 0
    with write(engine) as conn:
        events = queue.unfanned(conn, FAN_OUT_BATCH)
        if not events:
            return 0
        scope_ids = {e.scope_id for e in events}
        parents = queue.parent_scopes(conn, scope_ids)
        destinations = queue.live_destinations(conn, scope_ids | set(parents.values()))
        done = queue.existing_deliveries(conn, [e.id for e in events])
        rows: list[dict[str, Any]] = []
        for e in events:
            for d in destinations:
                if e.destination_id is not None:
                    wanted = d.id == e.destination_id  # a test event: its one destination, whatever its topics
                elif d.connect:
                    wanted = d.scope_id == parents.get(e.scope_id) and _matches(d.topics, e.topic)
                else:
                    wanted = d.scope_id == e.scope_id and _matches(d.topics, e.topic)
                if wanted and (e.id, d.id) not in done:
                    rows.append({
                        "scope_id": d.scope_id, "event_id": e.id, "event_seq": e.seq, "destination_id": d.id,
                        "customer_id": e.customer_id, "topic": e.topic, "status": PENDING, "attempts": 0,
                        "next_attempt_at": e.created_at, "created_at": now,
                    })
        queue.add_deliveries(conn, rows)
        queue.mark_fanned(conn, [e.seq for e in events])
    return len(events)


def envelope(
    event_id: str, topic: str, created: datetime, live_mode: bool, data_json: str, account: str | None = None
) -> bytes:
    """Credyt's body, ``data`` spliced in as stored (exact decimals, the same bytes on every attempt).
    An event of a connected account, sent to its platform's ``connect`` destination, also names the
    connected account (``account``, a Drawdown extension): otherwise the platform could not tell whose
    customer it is about."""
    head_fields: dict[str, Any] = {"id": event_id, "type": topic, "created": iso(created), "live_mode": live_mode}
    if account is not None:
        head_fields["account"] = account
    head = json.dumps(head_fields, separators=(",", ":"))
    return (head[:-1] + ',"data":' + data_json + "}").encode()


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    response: str | None
    duration_ms: int


def signing_secrets(row: Any, now: datetime) -> list[str]:
    valid_old = row.previous_secret and row.previous_expires_at is not None and row.previous_expires_at > now
    return [row.secret, row.previous_secret] if valid_old else [row.secret]


def send(client: httpx.Client, settings: Settings, url: str, body: bytes, signature: str) -> Outcome:
    """One POST: bounded in time and in what is read back, no redirects followed."""
    started = time.monotonic()
    deadline = started + settings.webhooks_connect_timeout_seconds + settings.webhooks_timeout_seconds

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    if not settings.webhooks_allow_private:
        fault = urls.address_fault(url)
        if fault:
            return Outcome(False, None, f"refused: {fault}", None, took())
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signature,
        "User-Agent": f"Drawdown-Webhooks/{__version__}",
    }
    try:
        with client.stream("POST", url, content=body, headers=headers, follow_redirects=False) as resp:
            read = bytearray()
            for chunk in resp.iter_raw():
                read += chunk
                if len(read) >= MAX_RESPONSE_BYTES:
                    del read[MAX_RESPONSE_BYTES:]
                    break  # the rest is never read: closing the stream drops the connection
                if time.monotonic() > deadline:
                    break
            text = read[:KEPT_RESPONSE_CHARS].decode("utf-8", "replace")
            code = resp.status_code
    except httpx.TimeoutException as exc:
        return Outcome(False, None, f"timed out ({type(exc).__name__})", None, took())
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], None, took())
    if 300 <= code < 400:
        return Outcome(False, code, "redirect not followed", text, took())
    if not 200 <= code < 300:
        return Outcome(False, code, f"answered {code}", text, took())
    return Outcome(True, code, None, text, took())


def lease(settings: Settings) -> timedelta:
    """How long a claimed attempt may take before its delivery is due again (a crash mid-attempt)."""
    # Connecting, then reads each bounded by the timeout until the total bound is checked, then the write.
    return timedelta(seconds=settings.webhooks_connect_timeout_seconds + 2 * settings.webhooks_timeout_seconds + 5)


def attempt(engine: Engine, client: httpx.Client, settings: Settings, row: Any, now: datetime) -> Outcome:
    """Send a claimed delivery (``row`` from ``queue.due``, its attempt already counted) and record it."""
    connected = row.event_account_id if row.event_scope_id != row.scope_id else None
    body = envelope(row.event_id, row.topic, row.created_at, row.live_mode, row.data, connected)
    # The signature's time is the wall clock: receivers check its freshness against theirs.
    signature = signing.header(int(time.time()), body, *signing_secrets(row, now))
    outcome = send(client, settings, row.url, body, signature)
    record(engine, row, now, outcome)
    return outcome


def record(engine: Engine, row: Any, now: datetime, outcome: Outcome) -> None:
    number = row.attempts + 1
    first = row.first_attempt_at or now
    values: dict[str, Any] = {"last_status_code": outcome.status_code}
    given_up = False
    if outcome.ok:
        values.update(status=SUCCEEDED, succeeded_at=now, next_attempt_at=now)
    else:
        values["failed_at"] = now
        if now - first >= GIVE_UP_AFTER:
            values.update(status=FAILED, next_attempt_at=now)
            given_up = True
        else:
            values["next_attempt_at"] = now + backoff(number)
    with write(engine) as conn:
        queue.record_attempt(conn, {
            "delivery_id": row.id, "attempt": number, "started_at": now, "duration_ms": outcome.duration_ms,
            "status_code": outcome.status_code, "error": outcome.error, "response": outcome.response,
        })
        if not queue.finish(conn, row.id, number, values):
            return  # redelivered or re-claimed meanwhile: that one decides
        _health(conn, row.destination_id, now, outcome.ok)
    WEBHOOKS.add("delivered" if outcome.ok else "failed")
    if given_up:
        WEBHOOKS.add("given_up")
        log.warning("webhook_delivery_given_up", event_id=row.event_id, destination_id=row.destination_id,
                    attempts=number)


def _health(conn: Any, destination_id: str, now: datetime, ok: bool) -> None:
    """Count a destination's failures in a row; disable it once they last 72 hours (10 or more)."""
    dest = queue.destination_health(conn, destination_id)
    if dest is None:
        return
    if ok:
        if dest.consecutive_failures or dest.failing_since is not None:
            queue.set_health(conn, destination_id, {"consecutive_failures": 0, "failing_since": None})
        return
    failures = dest.consecutive_failures + 1
    since = dest.failing_since or now
    values: dict[str, Any] = {"consecutive_failures": failures, "failing_since": since}
    if dest.enabled and failures >= DISABLE_AFTER_FAILURES and now - since >= DISABLE_AFTER:
        reason = f"every attempt failed since {iso(since)} ({failures} in a row)"
        values.update(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
        WEBHOOKS.add("disabled")
        log.warning("webhook_destination_disabled", destination_id=destination_id, scope_id=dest.scope_id,
                    url=dest.url, reason=reason)
    queue.set_health(conn, destination_id, values)
