"""Domain errors. The API turns them into RFC 7807 problems; nothing here knows about HTTP."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """Semantic validation failure; ``errors`` maps a field path to its messages."""

    status = 422
    title = "Validation failed"

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors

    @classmethod
    def field(cls, path: str, message: str) -> Invalid:
        return cls({path: [message]})
