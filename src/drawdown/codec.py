"""JSON with exact decimals, shared by the API edge and the database's JSON columns."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from drawdown.core.money import plain

_encoder = msgspec.json.Encoder(decimal_format="number", order="sorted")


def iso(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


_AS_IS = frozenset((str, int, bool, type(None)))


def prepare(value: Any) -> Any:
    """Decimals without exponents, datetimes as UTC ISO-8601 strings, recursively."""
    kind = type(value)
    if kind in _AS_IS:  # the common leaves first: this runs for every JSON value written
        return value
    if kind is dict:
        return {k: v if type(v) in _AS_IS else prepare(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [prepare(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    return _encoder.encode(prepare(value))


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse)


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def fingerprint(value: Any) -> str:
    """A stable hash of a request body (keys sorted, decimals normalised) for idempotent replays."""
    return hashlib.sha256(dumps(value)).hexdigest()
