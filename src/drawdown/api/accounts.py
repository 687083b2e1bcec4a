"""/accounts (Credyt's connected accounts and the caller's context) and /api-keys (a Drawdown extension)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Query, Request, Response

from drawdown.accounts import service as accounts
from drawdown.accounts.models import Account, NewAccount
from drawdown.api import idempotency
from drawdown.api.guard import forget_key
from drawdown.api.idempotency import IdempotencyKey
from drawdown.api.routing import Context, ExactJSONResponse, Limit, Offset, context, page, router
from drawdown.api.schemas.accounts import (
    AccountContext,
    ApiKeySummary,
    ConnectedAccount,
    CreateAccountRequest,
    CreateAccountResponse,
    CreateApiKeyRequest,
    CreateApiKeyResponse,
)
from drawdown.api.schemas.common import Page
from drawdown.api.scoping import CallerScope
from drawdown.apikeys import service as api_keys
from drawdown.apikeys.models import KeySummary
from drawdown.core.scopes import Scope
from drawdown.db.engine import read, write

api = router("Accounts")
keys_api = router("API keys")


def _account(a: Account) -> dict[str, Any]:
    return {"id": a.id, "external_id": a.external_id, "name": a.name, "created_at": a.created_at,
            "metadata": a.metadata}


@api.post("/accounts", status_code=201, response_model=CreateAccountResponse, summary="Create a connected account")
def create_account(
    body: CreateAccountRequest, request: Request, key: str | None = IdempotencyKey,
    scope: Scope = CallerScope, ctx: Context = Depends(context),
) -> ExactJSONResponse:
    command = NewAccount(body.name, body.external_id, body.metadata)
    return idempotency.create(
        ctx, scope, request, key, body.model_dump(exclude_none=True),
        lambda conn: {"id": accounts.create_connected(conn, scope, command, ctx.now())},
    )


@api.get("/accounts", response_model=Page[ConnectedAccount], summary="List connected accounts")
def list_accounts(
    offset: int = Offset, limit: int = Limit, external_id: str | None = Query(None, max_length=200),
    scope: Scope = CallerScope, ctx: Context = Depends(context),
) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        items, total = accounts.list_connected(conn, scope, offset, limit, external_id)
    return page([_account(a) for a in items], total, limit, offset)


# Declared before /accounts/{accountId}, which would otherwise take "self" for an id.
@api.get("/accounts/self", response_model=AccountContext, summary="The account and environment the caller acts in")
def account_context(scope: Scope = CallerScope, ctx: Context = Depends(context)) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        found = accounts.context(conn, scope)
    return ExactJSONResponse(
        {"account_id": scope.account_id, "environment": scope.environment, "org_id": found.org_id, "name": found.name}
    )


@api.get("/accounts/{accountId}", response_model=ConnectedAccount, summary="Get a connected account")
def get_account(accountId: str, scope: Scope = CallerScope, ctx: Context = Depends(context)) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse(_account(accounts.get_connected(conn, scope, accountId)))


def _key(k: KeySummary) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "hint": k.hint, "account_id": k.account_id, "environment": k.environment,
            "created_at": k.created_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at}


@keys_api.get("/api-keys", response_model=list[ApiKeySummary], summary="List the keys of the caller's environment")
def list_api_keys(scope: Scope = CallerScope, ctx: Context = Depends(context)) -> ExactJSONResponse:
    with read(ctx.engine) as conn:
        return ExactJSONResponse([_key(k) for k in api_keys.list_keys(conn, scope)])


@keys_api.post(
    "/api-keys", status_code=201, response_model=CreateApiKeyResponse,
    summary="Create a key in the caller's environment; its secret is shown only in this answer",
)
def create_api_key(
    body: CreateApiKeyRequest, scope: Scope = CallerScope, ctx: Context = Depends(context)
) -> ExactJSONResponse:
    # No Idempotency-Key: a replay would have to store the secret to answer it again.
    with write(ctx.engine) as conn:
        key_id, secret = api_keys.create(conn, scope, body.name, ctx.now())
        created = next(k for k in api_keys.list_keys(conn, scope) if k.id == key_id)
    return ExactJSONResponse({**_key(created), "secret": secret}, status_code=201)


@keys_api.delete("/api-keys/{keyId}", status_code=204, summary="Revoke a key at once (it answers 401 from then on)")
def revoke_api_key(
    keyId: str, request: Request, scope: Scope = CallerScope, ctx: Context = Depends(context)
) -> Response:
    with write(ctx.engine) as conn:
        api_keys.revoke(conn, scope, keyId, ctx.now())
    forget_key(request.app, keyId)  # this process at once; the others within guard.KEY_TTL_SECONDS
    return Response(status_code=204)
