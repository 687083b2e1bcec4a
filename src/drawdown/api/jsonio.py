"""JSON in and out without binary floats.

Request bodies are parsed with ``parse_float=Decimal`` so a number such as 0.000001 reaches the
models exactly. Responses are encoded by msgspec with Decimals written as plain JSON numbers.
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import Request, Response
from fastapi.routing import APIRoute

from drawdown.codec import dumps, loads

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


class DecimalRoute(APIRoute):
    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(DecimalRequest(request.scope, request.receive))

        return route
