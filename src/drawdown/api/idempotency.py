"""The ``Idempotency-Key`` header on create operations.

The first request with a key runs and its response is stored in the same transaction as its effect.
A retry with the same key, method, path and body returns that stored response; the same key with a
different body is a 409. A key belongs to the caller's scope: the same key in another scope is
another key (it runs, and never replays a response written for someone else). Two concurrent first
attempts cannot both commit: the key's primary key refuses the second, whose whole transaction (its
effect included) rolls back into a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Header, Request
from sqlalchemy import Connection, insert, select

from drawdown.api.deps import Context
from drawdown.api.responses import ExactJSONResponse
from drawdown.codec import dumps_text, fingerprint, loads
from drawdown.core.errors import Conflict
from drawdown.core.scopes import Scope
from drawdown.db.engine import write
from drawdown.db.tables import idempotency_keys

IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=255, description="Makes a retried create safe")


def create(
    ctx: Context,
    scope: Scope,
    request: Request,
    key: str | None,
    body: Any,
    action: Callable[[Connection], dict[str, Any]],
) -> ExactJSONResponse:
    path = request.url.path
    digest = fingerprint(body)
    with write(ctx.engine) as conn:
        if key:
            row = conn.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.scope_id == scope.id,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.method == request.method,
                    idempotency_keys.c.path == path,
                )
            ).first()
            if row is not None:
                if row.request_hash != digest:
                    raise Conflict(f"Idempotency-Key {key!r} was already used with a different request")
                return ExactJSONResponse(loads(row.body), status_code=row.status)
        result = action(conn)
        if key:
            conn.execute(
                insert(idempotency_keys).values(
                    scope_id=scope.id, key=key, method=request.method, path=path, request_hash=digest, status=201,
                    body=dumps_text(result), created_at=ctx.now(),
                )
            )
    return ExactJSONResponse(result, status_code=201)
