"""structlog set-up: one JSON line per record, plain tracebacks.

structlog's default development renderer pretty-prints tracebacks with every local variable; on an
error path under load that costs seconds per record, so the service always logs JSON.
"""

from __future__ import annotations

import logging

import structlog


def configure(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
