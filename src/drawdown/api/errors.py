"""The request edge's refusals, each with its HTTP status (``problems`` turns them into problem+json).

They live apart from the code that raises them so that ``problems`` can name them without importing
the edge (which itself answers with ``problems``)."""

from __future__ import annotations

from drawdown.core.errors import DomainError


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class TooManyFailures(DomainError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class BodyTooLarge(DomainError):
    status = 413
    title = "Content too large"


class BodyTimeout(DomainError):
    status = 408
    title = "Request timeout"


class Malformed(DomainError):
    """A body that cannot be read as one unambiguous JSON document (400), with fields where known."""

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
