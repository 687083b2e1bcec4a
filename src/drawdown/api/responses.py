"""Responses written with exact decimals (msgspec): JSON, and RFC 7807 problems."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from drawdown.codec import dumps


class ExactJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class ProblemResponse(ExactJSONResponse):
    media_type = "application/problem+json"
