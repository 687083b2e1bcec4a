"""Stage 3, replay check: an event id already received is a replay (answered as before, billed
never again) if its content is the same, and refused if it differs."""

from __future__ import annotations

from drawdown.usage.group import Turn
from drawdown.usage.models import UsageEvent


def is_known(turn: Turn, index: int, event: UsageEvent) -> tuple[bool, str]:
    """(whether the event was received before, its content digest); records a replay or a refusal."""
    digest = event.digest
    earlier = turn.customer.seen.get(event.id) or turn.added.get(event.id)
    if earlier is None:
        return False, digest
    if earlier == digest:
        turn.outcome.replayed.append(event.id)
    else:
        turn.outcome.rejected[index] = f"event {event.id!r} was already received with different content"
    return True, digest
