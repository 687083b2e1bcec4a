"""JSON in and out without binary floats.

Request bodies are parsed strictly (``codec.loads_request``): exact Decimals, no NaN, no repeated
keys, no NUL characters, bounded depth and number sizes, whatever JSON content type they came as.
Responses are encoded by msgspec with Decimals written as plain JSON numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from typing import Any, get_args

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from drawdown.api.errors import Malformed, UnsupportedMediaType
from drawdown.api.guard import check_key
from drawdown.codec import BodyError, Pairs, Refused, loads_request
from drawdown.core.errors import Invalid


class DecimalRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = loads_request(body)
            except BodyError as exc:
                raise Malformed(str(exc)[:1].upper() + str(exc)[1:] + ".") from None
        return self._json


def is_json(content_type: str) -> bool:
    """Any JSON media type, as FastAPI reads them (``application/json``, ``…+json``, any case)."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def text_fault(text: str) -> str | None:
    """Why a string cannot be stored: a NUL (PostgreSQL text cannot hold one) or an unpaired surrogate
    from a ``\\ud800``-style escape (it has no UTF-8 form, so it could be neither stored nor hashed)."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (an unpaired surrogate escape was found)"
    return None


def body_faults(value: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(values refused, keys repeated) by field path, walked without recursion (depth is bounded anyway)."""
    refused: dict[str, list[str]] = {}
    repeated: dict[str, list[str]] = {}
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            fault = text_fault(node)
            if fault:
                refused.setdefault(path or "body", []).append(fault)
        elif isinstance(node, Refused):
            refused.setdefault(path or "body", []).append(node.reason)
        elif isinstance(node, dict):
            for key in getattr(node, "repeated", ()) if isinstance(node, Pairs) else ():
                repeated.setdefault(_join(path, key), []).append("the key appears more than once")
            for key, item in node.items():
                fault = text_fault(key)
                if fault:
                    refused.setdefault(_join(path, key.encode("utf-8", "replace").decode()), []).append(fault)
                else:
                    stack.append((item, _join(path, key)))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node))
    return refused, repeated


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# Dates and datetimes in queries leave a day's room at the calendar's ends: the routes add a day
# (inclusive ends) or move to UTC, and either would overflow at 0001-01-01 or 9999-12-31.
_ROOM = timedelta(days=1)
_TEMPORAL: dict[Any, TypeAdapter[Any]] = {date: TypeAdapter(date), datetime: TypeAdapter(datetime)}


def _temporal_type(annotation: Any) -> Any:
    """``date`` or ``datetime`` when a query parameter is one (optional or not), else None."""
    return next((kind for kind in (annotation, *get_args(annotation)) if kind in _TEMPORAL), None)


def within_calendar(value: date) -> bool:
    moment = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time(), UTC)
    try:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
        moment - _ROOM, moment + _ROOM
    except OverflowError:
        return False
    return True


def _query_params(dependant: Dependant) -> list[Any]:
    found, stack = [], [dependant]
    while stack:
        current = stack.pop()
        found += current.query_params
        stack += current.dependencies
    return found


def _query_faults(route: APIRoute, request: Request) -> dict[str, list[str]]:
    faults: dict[str, list[str]] = {}
    for field in _query_params(route.dependant):
        kind = _temporal_type(field.field_info.annotation)
        raw = request.query_params.get(field.alias)
        if kind is None or raw is None:
            continue
        try:
            value = _TEMPORAL[kind].validate_python(raw)
        except ValidationError:
            continue  # FastAPI names the field itself
        if not within_calendar(value):
            faults[field.alias] = ["must be between 0001-01-02 and 9999-12-30 (UTC)"]
    return faults


async def _read_json(route: APIRoute, request: DecimalRequest) -> Any:
    """The body parsed, when the route takes one and the caller sent one; refuses other media types."""
    if route.body_field is None or not await request.body():
        return None
    content_type = request.headers.get("content-type")
    if content_type and not is_json(content_type):
        raise UnsupportedMediaType(f"Send the body as JSON (Content-Type: application/json), not {content_type!r}.")
    return await request.json()


def _check_body(value: Any) -> None:
    refused, repeated = body_faults(value)
    if repeated:
        names = ", ".join(repeated)
        raise Malformed(f"A JSON key appears more than once ({names}); send each key once.", repeated)
    if refused:
        raise Invalid(refused)


class DecimalRoute(APIRoute):
    """A route of the API proper: key checked first (before the body is read), then NULs, the body
    strictly parsed, and query dates kept inside the calendar, before FastAPI validates anything."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            request = DecimalRequest(request.scope, request.receive)
            await check_key(request)
            bad = {
                k: ["must not contain NUL characters"] for k, v in request.query_params.multi_items() if "\x00" in k + v
            }
            bad.update(
                {k: ["must not contain NUL characters"] for k, v in request.path_params.items() if "\x00" in str(v)}
            )
            if bad:
                raise Invalid(bad)
            _check_body(await _read_json(self, request))
            faults = _query_faults(self, request)
            if faults:
                raise Invalid(faults)
            return await handler(request)

        return route
