"""Every error as RFC 7807 problem+json: ProblemDetails, or ValidationProblem with ``errors``."""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from drawdown.api.errors import Malformed, TooManyFailures
from drawdown.api.responses import ProblemResponse
from drawdown.core.errors import DomainError, Invalid
from drawdown.db.engine import is_read_only

log = structlog.get_logger()

_TAGS = {
    "usage_based",
    "fixed",
    "real_time",
    "recurring",
    "one_time",
    "bool",
    "int",
    "str",
    "decimal",
    "float",
    "constrained-str",
    "constrained-int",
    "constrained-decimal",
    "literal",
}
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    request: Request | None = None,
    errors: dict[str, list[str]] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": f"https://drawdown.dev/problems/{status}",
        "title": "Validation failed" if errors is not None else _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    headers = {"WWW-Authenticate": "X-CREDYT-API-KEY"} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any], body: Any = None) -> str:
    """The caller's field path for a pydantic error location (``events[0].data.tokens``).

    Pydantic puts union and validator tags (``usage_based``, ``list[PriceValue]``, ``int``) into
    locations. They are told apart from field names by walking the request body alongside: a name
    that is a key of the body at that point is a field, whatever it is called. The last item may be a
    field the body lacks (a missing field), so it is kept unless it looks like a tag.
    """
    parts: list[str] = []
    node = body
    items = list(loc)
    if items and items[0] in ("body", "query", "path", "header"):
        if items[0] != "body":
            node = None
        items = items[1:]
    for i, item in enumerate(items):
        if isinstance(item, int):
            if parts:
                parts[-1] += f"[{item}]"
            else:
                parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
            continue
        text = str(item)
        if isinstance(node, dict) and text in node:
            parts.append(text)
            node = node[text]
            continue
        last = i == len(items) - 1
        if text in _TAGS or "[" in text or (node is not None and not last):
            continue  # a tag, not a field
        parts.append(text)
        node = None
    return ".".join(parts) or "body"


# A model validator names the field it refuses as "amount: must not be zero"; the error belongs there.
_NAMED = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.+)$", re.S)


def _placed(path: str, msg: str) -> tuple[str, str]:
    named = _NAMED.match(msg)
    if named is None:
        return path, msg
    return (named[1] if path == "body" else f"{path}.{named[1]}"), named[2]


_STRUCTURAL = {"missing", "extra_forbidden", "model_type", "list_type", "dict_type", "model_attributes_type"}


def _union_member(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """(where the union is, which member) for an error inside a union member (``list[PriceValue]``)."""
    for i, item in enumerate(loc):
        if isinstance(item, str) and "[" in item:
            return loc[:i], item
    return None


def _without_union_noise(errs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep, of a union whose every member failed, only the errors of the member the input came closest
    to (fewest missing or unexpected fields, then most errors deeper in): the others are noise such as
    "Extra inputs are not permitted" beside the real message."""
    unions: dict[tuple[Any, ...], dict[str, list[int]]] = {}
    for n, e in enumerate(errs):
        member = _union_member(tuple(e.get("loc", ())))
        if member is not None:
            unions.setdefault(member[0], {}).setdefault(member[1], []).append(n)
    noise: set[int] = set()
    for members in unions.values():
        if len(members) < 2:
            continue

        def distance(tag: str, members: dict[str, list[int]] = members) -> tuple[int, int]:
            found = [errs[n] for n in members[tag]]
            structural = sum(e.get("type") in _STRUCTURAL for e in found)
            return structural, structural - len(found)

        best = min(members, key=distance)
        noise.update(n for tag, ns in members.items() if tag != best for n in ns)
    return [e for n, e in enumerate(errs) if n not in noise]


def _message(err: dict[str, Any]) -> str:
    msg: str = err.get("msg", "invalid")
    return msg.removeprefix("Value error, ")


async def _validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        detail = next((e.get("ctx", {}).get("error") for e in errs if e.get("type") == "json_invalid"), "")
        return problem(400, f"The body is not valid JSON: {detail}", request)
    errors: dict[str, list[str]] = {}
    for e in _without_union_noise(list(errs)):
        msg = _message(e)
        path = field_path(e.get("loc", ()), exc.body)
        if e.get("type") == "missing" and path == "body":
            msg = "a JSON body is required"
        path, msg = _placed(path, msg)
        if msg not in errors.setdefault(path, []):
            errors[path].append(msg)
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
    return problem(422, detail, request, errors)


async def _domain(request: Request, exc: DomainError) -> ProblemResponse:
    if isinstance(exc, Invalid):
        return problem(422, exc.detail, request, exc.errors)
    if isinstance(exc, TooManyFailures):
        resp = problem(429, exc.detail, request)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    if isinstance(exc, Malformed) and exc.errors:
        return problem(400, exc.detail, request, exc.errors, title=_TITLES[400])
    return problem(exc.status, exc.detail, request, title=exc.title)


async def _integrity(request: Request, exc: IntegrityError) -> ProblemResponse:
    # Unique constraints are the last line against concurrent duplicates.
    log.warning("integrity_conflict", path=request.url.path, error=str(exc.orig))
    return problem(409, "The request conflicts with a resource created concurrently; retry it.", request)


async def _data(request: Request, exc: DataError) -> ProblemResponse:
    # The database refused a value the validators let through; still the caller's input.
    log.warning("data_error", path=request.url.path, error=str(exc.orig))
    return problem(422, "A value in the request cannot be stored (out of range or malformed).", request, {})


async def _database(request: Request, exc: DBAPIError) -> ProblemResponse:
    # A read-only database (a PostgreSQL standby, a read-only file) is not a passing outage: no
    # Retry-After, and a detail that tells the operator what is wrong. Any other error stays a 500.
    if is_read_only(exc):
        log.error("database_read_only", path=request.url.path, error=str(exc.orig))
        return problem(503, "The database is read-only; writes are refused until it is made writable.", request)
    log.exception("unhandled_error", path=request.url.path)
    return problem(500, "An internal error occurred; it has been logged.", request)


async def _operational(request: Request, exc: OperationalError) -> ProblemResponse:
    if is_read_only(exc):
        return await _database(request, exc)
    log.error("database_unavailable", path=request.url.path, error=str(exc.orig))
    resp = problem(503, "The database is busy or unavailable; retry shortly.", request)
    resp.headers["Retry-After"] = "1"
    return resp


async def _http(request: Request, exc: HTTPException) -> ProblemResponse:
    return problem(exc.status_code, str(exc.detail), request)


async def _left(request: Request, exc: ClientDisconnect) -> ProblemResponse:
    # The client closed its connection before its body was complete: nothing was read into a command,
    # so nothing was recorded, and no one will read this answer. Its doing, not a server error.
    log.info("client_disconnected", path=request.url.path)
    return problem(400, "The connection closed before the request body was complete; nothing was recorded.",
                   request)


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled_error", path=request.url.path)
    return problem(500, "An internal error occurred; it has been logged.", request)


_HANDLERS: dict[type[Exception], Any] = {
    RequestValidationError: _validation,
    DomainError: _domain,
    IntegrityError: _integrity,
    DataError: _data,
    DBAPIError: _database,
    OperationalError: _operational,
    HTTPException: _http,
    ClientDisconnect: _left,
    Exception: _unexpected,
}


async def answer(request: Request, exc: Exception) -> ProblemResponse:
    """The problem for ``exc``, chosen as Starlette chooses a handler (the nearest class in its MRO): for
    code that runs outside FastAPI's exception handling (``api/fast_events.py``)."""
    handler = next(_HANDLERS[kind] for kind in type(exc).__mro__ if kind in _HANDLERS)
    response: ProblemResponse = await handler(request, exc)
    return response


def install(app: FastAPI) -> None:
    for kind, handler in _HANDLERS.items():
        app.add_exception_handler(kind, handler)
