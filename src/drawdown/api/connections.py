"""A header read timeout for ``drawdown serve``, which uvicorn does not have.

uvicorn closes a kept-alive connection that stays idle after a response (``timeout_keep_alive``), but
a socket that opens and sends nothing, or trickles a request line and headers, is held forever: enough
of them exhaust the process's file descriptors. These protocol classes start a timer when a connection
opens and when a request's first byte arrives, cancel it once the headers are complete, and close the
transport when it fires (``DRAWDOWN_HEADER_TIMEOUT_SECONDS``).

This is the only module besides ``cli`` that touches uvicorn internals. The classes live at module
level so ``uvicorn.run(http=...)`` can pickle them by reference into ``--workers`` processes; each
process reads the timeout from its own environment, as ``app_from_environment`` reads its settings.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from drawdown.settings import Settings

log = logging.getLogger("uvicorn.error")


@functools.cache
def header_timeout() -> float:
    return Settings().header_timeout_seconds


class _HeaderDeadline:
    """The timer both protocols share; mixed in before the uvicorn class so its hooks run first."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(header_timeout(), self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _request_running(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is not None and not cycle.response_complete

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._request_running():
            # A pipelined client's next headers wait unread (reading is paused) while the current
            # request runs: that is our slowness, not the client's, so the clock restarts.
            self._arm_header_timer()
            return
        log.debug("Closing a connection whose request headers did not arrive in %s s.", header_timeout())
        self.transport.close()


class HttpToolsHeaderTimeout(_HeaderDeadline, HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # The request's first byte: on a kept-alive connection the keep-alive timer has just been
        # cancelled by data_received, so this timer now bounds the headers.
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()


class H11HeaderTimeout(_HeaderDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        # h11 has no "message begun" event: while the client is IDLE (no complete request line and
        # headers yet) bytes left in its buffer are a partial request; any other state means the
        # headers were read.
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            if self.conn.trailing_data[0]:
                self._arm_header_timer()
        else:
            self._cancel_header_timer()


# What uvicorn's "auto" picks: httptools when installed, else h11.
HeaderTimeoutProtocol: type[asyncio.Protocol] = (
    HttpToolsHeaderTimeout if importlib.util.find_spec("httptools") else H11HeaderTimeout
)
