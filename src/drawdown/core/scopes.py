"""Scopes: every object belongs to one (account, environment), and every query is filtered by it.

A platform account has two scopes, ``live`` and ``test``; a connected account has the one environment
its platform created it in. A key belongs to one scope; with ``X-CREDYT-ACCOUNT`` a platform's key acts
in the scope of a connected account it owns. Ids stay globally unique; an id from another scope is
answered exactly like an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Environment = Literal["live", "test"]
LIVE: Final = "live"
TEST: Final = "test"
ENVIRONMENTS: Final = (LIVE, TEST)

# The account every database starts with: rows from before accounts existed, and the bootstrap key,
# belong to its live environment (scope 1); its test environment is scope 2.
DEFAULT_ACCOUNT: Final = "acc_00000000000000000000000000"
DEFAULT_ORG: Final = "org_00000000000000000000000000"
DEFAULT_LIVE_ID: Final = 1
DEFAULT_TEST_ID: Final = 2


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a request acts: ``id`` is the ``scope_id`` stored on scoped rows."""

    id: int
    account_id: str
    environment: str


DEFAULT_LIVE: Final = Scope(DEFAULT_LIVE_ID, DEFAULT_ACCOUNT, LIVE)
DEFAULT_TEST: Final = Scope(DEFAULT_TEST_ID, DEFAULT_ACCOUNT, TEST)
