"""Router factory, authentication and small helpers shared by the resource routers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from drawdown.api.deps import Context, context
from drawdown.api.errors import Unauthorized
from drawdown.api.guard import MISSING_KEY, key_for
from drawdown.api.jsonio import DecimalRoute
from drawdown.api.responses import ExactJSONResponse
from drawdown.api.schemas.common import ProblemDetails, ValidationProblem
from drawdown.core.errors import NotFound

_api_key = APIKeyHeader(name="X-CREDYT-API-KEY", auto_error=False, description="Your Drawdown API key")
_bearer = HTTPBearer(auto_error=False, description="The same key as a bearer token")


async def authenticate(
    request: Request,
    key: str | None = Depends(_api_key),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str:
    """Async, so that a known key costs no trip to the thread pool (most requests pay nothing more).

    ``DecimalRoute`` has already refused requests without a valid key before their body was read
    (``guard.check_key``); this names the caller's key and keeps the security schemes in the OpenAPI
    document.
    """
    secret = key or (bearer.credentials if bearer else None)
    if not secret:
        raise Unauthorized(MISSING_KEY)
    found = await key_for(request.app, secret)
    if found is None:
        raise Unauthorized("The API key is not valid.")
    request.state.key = found
    return found.id


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDetails, "description": "Malformed request"},
    401: {"model": ProblemDetails, "description": "Missing or invalid API key"},
    404: {"model": ProblemDetails, "description": "Not found"},
    409: {"model": ProblemDetails, "description": "Conflict"},
    422: {"model": ValidationProblem, "description": "Validation failed"},
}


def router(tag: str) -> APIRouter:
    return APIRouter(tags=[tag], route_class=DecimalRoute, dependencies=[Depends(authenticate)], responses=ERRORS)


def page(items: list[Any], total: int, limit: int, offset: int) -> ExactJSONResponse:
    return ExactJSONResponse({"items": items, "total_count": total, "limit": limit, "offset": offset})


Offset = Query(0, ge=0, le=1_000_000_000, description="Items to skip")
Limit = Query(20, ge=1, le=500, description="Items per page (at most 500)")


def utc(value: datetime | None) -> datetime | None:
    """Query datetimes without a zone are read as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def version_param(version: str) -> int | str:
    if version == "default":
        return version
    # ASCII digits only, and few of them: int() refuses 5,000 digits and reads "²" as an error, not a 404.
    if version.isascii() and version.isdigit() and len(version) <= 9 and int(version) >= 1:
        return int(version)
    raise NotFound(f"version {version!r} is not a version number or 'default'")


__all__ = ["Context", "context", "router", "page", "Offset", "Limit", "version_param", "utc", "ExactJSONResponse"]
