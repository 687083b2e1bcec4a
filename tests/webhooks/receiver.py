"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 (a thread per request) that
verifies ``Credyt-Signature`` against the secrets it is told, and records every delivery.

A pytest plugin of the root conftest (``pytest_plugins``): ``receiver`` gives a running receiver,
``receivers`` a factory for more. How it answers is set per test:

- ``answer(status, ...)``: a fixed status, or a list of statuses used in turn (the last one repeats);
- ``answer_event(event_id, status, ...)``: the same for the deliveries of one event alone, whatever
  the order deliveries of several events arrive in;
- ``delay``: seconds to wait before answering (a slow receiver);
- ``redirect_to``: answer 302 with this Location;
- ``huge_body``: bytes of body to stream back (a receiver that never stops talking).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SIGNATURE = "Credyt-Signature"
FRESHNESS_SECONDS = 300


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    path: str
    received_at: float
    verified: bool
    timestamp: int | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def signatures(self) -> list[str]:
        return [p[3:] for p in self.headers.get(SIGNATURE, "").split(",") if p.startswith("v0=")]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(header: str, body: bytes, secrets: list[str], now: float | None = None) -> tuple[bool, int | None]:
    """True when a ``v0`` in ``header`` is the HMAC of one of ``secrets`` and ``t`` is fresh."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False, None
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > FRESHNESS_SECONDS:
        return False, t
    given = [v for k, v in parts if k == "v0"]
    ok = any(hmac.compare_digest(sign(s, t, body), g) for s in secrets for g in given)
    return ok, t


@dataclass
class Receiver:
    url: str = ""
    secrets: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    redirect_to: str | None = None
    huge_body: int = 0
    on_request: Callable[[Delivery], None] | None = None
    by_event: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _answered: int = 0
    _answered_by_event: dict[str, int] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.statuses, self._answered = list(statuses), 0

    def answer_event(self, event_id: str, *statuses: int) -> None:
        with self._lock:
            self.by_event[event_id], self._answered_by_event[event_id] = list(statuses), 0

    def trust(self, *secrets: str) -> None:
        self.secrets.extend(secrets)

    def _status(self, delivery: Delivery) -> int:
        with self._lock:
            event_id = _event_id(delivery)
            own = self.by_event.get(event_id) if event_id is not None else None
            if own is not None and event_id is not None:
                status = own[min(self._answered_by_event[event_id], len(own) - 1)]
                self._answered_by_event[event_id] += 1
                return status
            status = self.statuses[min(self._answered, len(self.statuses) - 1)]
            self._answered += 1
            return status

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def wait_for(
        self, count: int, timeout: float = 15, predicate: Callable[[Delivery], bool] | None = None
    ) -> list[Delivery]:
        """The deliveries (those matching ``predicate``) once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = [d for d in self.deliveries if predicate is None or predicate(d)]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def events(self, predicate: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            bodies = [d.json for d in self.deliveries]
        return [b for b in bodies if predicate is None or predicate(b)]

    def clear(self) -> None:
        with self._lock:
            self.deliveries.clear()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _event_id(delivery: Delivery) -> str | None:
    try:
        found = delivery.json.get("id")
    except (ValueError, AttributeError):  # not a JSON object: no event of ours
        return None
    return found if isinstance(found, str) else None


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (a kill -9): nothing was delivered
                self.close_connection = True
                return
            headers = {k: v for k, v in self.headers.items()}
            ok, t = verify(headers.get(SIGNATURE, ""), body, list(receiver.secrets))
            delivery = Delivery(body, headers, self.path, time.time(), ok, t)
            receiver.record(delivery)
            if receiver.on_request is not None:
                receiver.on_request(delivery)
            if receiver.delay:
                time.sleep(receiver.delay)
            try:
                if receiver.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = receiver._status(delivery)
                if receiver.huge_body:
                    self.send_response(status)
                    self.send_header("Content-Length", str(receiver.huge_body))
                    self.end_headers()
                    chunk = b"x" * 65536
                    left = receiver.huge_body
                    while left > 0:
                        self.wfile.write(chunk[: min(left, len(chunk))])
                        left -= len(chunk)
                    return
                payload = b'{"ok":true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender cut us off: that is what some tests want

    return Handler


def start_receiver() -> Receiver:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver._server = server
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
    return receiver


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    """A factory: each call starts one more receiver; all are stopped after the test."""
    started: list[Receiver] = []

    def make() -> Receiver:
        started.append(start_receiver())
        return started[-1]

    yield make
    for r in started:
        r.stop()


@pytest.fixture
def receiver(receivers: Callable[[], Receiver]) -> Receiver:
    return receivers()
