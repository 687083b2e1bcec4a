"""The usage the benchmarks send: completions of random models, tokens and images (the bench world's
prices rate each of them), made fresh so that no two runs share an event id."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime

from drawdown.usage.models import UsageEvent

MODELS = ("large", "small", "vision", "audio")


def make_events(n: int, rng: random.Random) -> list[UsageEvent]:
    now = datetime.now(UTC)
    return [
        UsageEvent(
            f"ev-{secrets.token_hex(8)}",
            "completion",
            now,
            data={"model": rng.choice(MODELS), "tokens": rng.randrange(100, 5000), "images": rng.randrange(0, 3)},
        )
        for _ in range(n)
    ]
