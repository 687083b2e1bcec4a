"""JSON in and out without binary floats.

Request bodies are parsed with ``parse_float=Decimal`` so a number such as 0.000001 reaches the
models exactly. Responses are encoded by msgspec with Decimals written as plain JSON numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from drawdown.codec import dumps, loads
from drawdown.core.errors import Invalid


class ExactJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class ProblemResponse(ExactJSONResponse):
    media_type = "application/problem+json"


class DecimalRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = loads(body)
        return self._json


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Where a NUL character hides in a parsed body (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for k, v in value.items():
            key_path = f"{path}.{k}" if path else str(k)
            found += [key_path] if "\x00" in str(k) else nul_paths(v, key_path)
        return found
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nul_paths(v, f"{path}[{i}]")]
    return []


class DecimalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            request = DecimalRequest(request.scope, request.receive)
            bad = [k for k, v in request.query_params.multi_items() if "\x00" in k or "\x00" in v]
            bad += [k for k, v in request.path_params.items() if "\x00" in str(v)]
            if request.headers.get("content-type", "").startswith("application/json"):
                try:
                    bad += nul_paths(await request.json())
                except ValueError:
                    pass  # FastAPI reports malformed JSON itself
            if bad:
                raise Invalid({p: ["must not contain NUL characters"] for p in bad})
            return await handler(request)

        return route
