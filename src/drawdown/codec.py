"""JSON with exact decimals, shared by the API edge and the database's JSON columns."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate
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


# A request body is parsed strictly: the caller's JSON decides money, so nothing in it may be
# guessed at. Values the parser cannot take exactly are kept in place as ``Refused`` markers (so
# the error can name their field) and objects with a repeated key remember it, instead of Python's
# json silently taking the last value.
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100  # far beyond any amount or volume; keeps Decimal arithmetic bounded
MAX_EXPONENT = 100
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class Refused:
    """A number or constant the parser will not take, kept where it stood so its field is named."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Pairs(dict[str, Any]):
    """An object whose keys repeat, and which ones (its request is refused, so no value is ever used)."""

    repeated: list[str]


class BodyError(ValueError):
    """A body that is not acceptable JSON at all (encoding, syntax, depth)."""


def depth(text: str) -> int:
    """How deeply arrays and objects nest, found without recursion (strings set aside first)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # cannot be too deep: the common case costs two counts
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _float(text: str) -> Decimal | Refused:
    if len(text) > MAX_NUMBER_CHARS:
        return Refused(f"a number may have at most {MAX_NUMBER_CHARS} characters")
    value = Decimal(text)
    if abs(value.adjusted()) > MAX_EXPONENT:
        return Refused(f"the exponent is out of range (at most 1e{MAX_EXPONENT} in magnitude)")
    return value


def _int(text: str) -> int | Refused:
    if len(text) > MAX_NUMBER_CHARS:
        return Refused(f"an integer may have at most {MAX_NUMBER_CHARS} digits")
    return int(text)


def _constant(name: str) -> Refused:
    return Refused(f"{name} is not a number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    repeated = Pairs(result)
    repeated.repeated = []
    for key, _ in pairs:
        if key in seen:
            repeated.repeated.append(key)
        seen.add(key)
    return repeated


def loads_request(body: bytes) -> Any:
    """Parse a request body: UTF-8, at most ``MAX_DEPTH`` deep, exact numbers, markers for the rest."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    if depth(text) > MAX_DEPTH:
        raise BodyError(f"the body nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        return json.loads(text, parse_float=_float, parse_int=_int, parse_constant=_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise BodyError("the body nests too deeply") from None
