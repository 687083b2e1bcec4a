"""Where a request acts: the scope of its key, or, with ``X-CREDYT-ACCOUNT``, of a connected account
the key's account owns in the key's environment.

Every route that reads or writes data takes ``scope: Scope = CallerScope`` and hands it to the service.
An account the key may not act in (unknown, malformed, a sibling's, another platform's, or one created
in the other environment) is refused with the same 403, so the header cannot probe which accounts exist.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from drawdown.accounts import service as accounts
from drawdown.api.deps import Context
from drawdown.api.errors import Forbidden, Unauthorized
from drawdown.api.guard import MISSING_KEY
from drawdown.apikeys.models import KeyInfo
from drawdown.core.scopes import Scope
from drawdown.db.engine import read

ACCOUNT_HEADER = "X-CREDYT-ACCOUNT"
_account_header = APIKeyHeader(
    name=ACCOUNT_HEADER, auto_error=False, scheme_name="ConnectedAccount",
    description="Act inside this connected account of the key's account (acc_…)",
)


def _refused(account_id: str) -> Forbidden:
    return Forbidden(
        f"{ACCOUNT_HEADER}: this key may not act in account {account_id[:64]!r}; only the platform that "
        "created a connected account can, in the environment it was created in"
    )


async def caller_scope(request: Request, account: str | None = Depends(_account_header)) -> Scope:
    key: KeyInfo | None = getattr(request.state, "key", None)
    if key is None:  # authenticate and the route's guard have run first; this is belt and braces
        raise Unauthorized(MISSING_KEY)
    if account is None:
        return key.scope
    account = account.strip()
    if not account.startswith("acc_") or len(account) > 64:
        raise _refused(account)
    scope = await _connected(request.app, key.scope, account)
    if scope is None:
        raise _refused(account)
    return scope


async def _connected(app: FastAPI, parent: Scope, account_id: str) -> Scope | None:
    # Connected accounts are never deleted nor moved: a found one can be remembered for the process.
    cache: dict[tuple[int, str], Scope] = app.state.connected_cache
    found = cache.get((parent.id, account_id))
    if found is None:
        found = await run_in_threadpool(_lookup, app.state.ctx, parent, account_id)
        if found is not None:
            if len(cache) > 10_000:
                cache.clear()
            cache[(parent.id, account_id)] = found
    return found


def _lookup(ctx: Context, parent: Scope, account_id: str) -> Scope | None:
    with read(ctx.engine) as conn:
        return accounts.connected_scope(conn, parent, account_id)


CallerScope = Depends(caller_scope)
