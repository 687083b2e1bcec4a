"""Slow and silent clients against a real ``drawdown serve``: sockets that send nothing, stop mid-header
(fresh or kept alive) or stall mid-body are closed soon after their timeout, and the server still
answers a normal request afterwards.

SQLite only: connection handling sits below the application and does not depend on the database.
Timeouts are 1 s and every bound is generous (a close is expected well within 1 s + MARGIN, and not
before half the timeout), so a loaded machine does not make these flaky.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from drawdown.api import connections
from drawdown.bench.server import Served, serve

TIMEOUT = 1.0
MARGIN = 3.0  # a close must come within TIMEOUT + MARGIN; it normally comes at ~TIMEOUT


def _serve(tmp: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> Served:
    # serve() copies os.environ into the server's environment.
    monkeypatch.setenv("DRAWDOWN_HEADER_TIMEOUT_SECONDS", str(TIMEOUT))
    monkeypatch.setenv("DRAWDOWN_BODY_TIMEOUT_SECONDS", str(TIMEOUT))
    # Longer than the header timeout, so a kept-alive connection closed mid-header is the header timer's doing.
    monkeypatch.setenv("DRAWDOWN_KEEP_ALIVE_SECONDS", "10")
    return serve(f"sqlite:///{tmp}/connections.db", workers=workers)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        server = _serve(tmp_path_factory.mktemp("connections"), monkeypatch, workers=1)
    try:
        yield server
    finally:
        server.stop()


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start = time.monotonic()
    sock.settimeout(TIMEOUT + MARGIN)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"still open after {time.monotonic() - start:.1f} s; received {received!r}")
    except ConnectionResetError:
        pass  # closed with unread bytes in its buffer: still a close
    return received, time.monotonic() - start


def _response(sock: socket.socket) -> bytes:
    """One complete response to a GET /health on a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, f"closed early; received {data!r}"
        data += chunk
    return data


def _assert_closed_by_timer(sock: socket.socket) -> None:
    received, elapsed = _until_closed(sock)
    assert received == b""
    assert TIMEOUT / 2 <= elapsed < TIMEOUT + MARGIN


def _assert_still_serving(served: Served) -> None:
    assert httpx.get(f"{served.base}/health", timeout=5).json() == {"status": "ok"}


def test_a_silent_connection_is_closed(served: Served) -> None:
    with _connect(served.base) as sock:
        _assert_closed_by_timer(sock)
    _assert_still_serving(served)


def test_a_partial_request_line_and_headers_are_closed(served: Served) -> None:
    for partial in (b"GET /hea", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "):
        with _connect(served.base) as sock:
            sock.sendall(partial)
            _assert_closed_by_timer(sock)
    _assert_still_serving(served)


def test_a_kept_alive_connection_stalling_in_its_next_headers_is_closed(served: Served) -> None:
    with _connect(served.base) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(TIMEOUT * 1.5)  # idle between requests is the keep-alive timer's, not this one's
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        _assert_closed_by_timer(sock)
    _assert_still_serving(served)


def test_a_stalled_body_is_answered_408_and_closed(served: Served) -> None:
    with _connect(served.base) as sock:
        head = (
            "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-CREDYT-API-KEY: {served.secret}\r\nContent-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"customer_id": ')
        received, elapsed = _until_closed(sock)
    assert TIMEOUT / 2 <= elapsed < TIMEOUT + MARGIN
    status, _, rest = received.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408"), received
    assert b"content-type: application/problem+json" in headers.lower()
    assert b"connection: close" in headers.lower()
    problem = json.loads(body)
    assert problem["status"] == 408 and "DRAWDOWN_BODY_TIMEOUT_SECONDS" in problem["detail"]
    _assert_still_serving(served)


def test_normal_requests_are_untouched(served: Served) -> None:
    """A kept-alive connection serves several requests, and a whole body sent at once is read."""
    with httpx.Client(base_url=served.base, headers=served.headers, timeout=5) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
        # A complete body past the guard: refused by validation (422), not by a timeout.
        assert client.post("/events", json={"events": []}).status_code == 422


def test_several_workers_close_silent_and_partial_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _serve(tmp_path, monkeypatch, workers=2)
    try:
        with _connect(server.base) as silent:
            _assert_closed_by_timer(silent)
        with _connect(server.base) as partial:
            partial.sendall(b"GET /health HTTP/1.1\r\nHost")
            _assert_closed_by_timer(partial)
        _assert_still_serving(server)
    finally:
        server.stop()


@pytest.mark.parametrize("protocol", [connections.H11HeaderTimeout, connections.HttpToolsHeaderTimeout])
def test_both_protocol_classes_close_silent_and_partial_connections(
    protocol: type[asyncio.Protocol], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` uses httptools when installed; the h11 class is its fallback and must hold the same line."""
    monkeypatch.setattr(connections, "header_timeout", lambda: TIMEOUT)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, http=protocol, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        local = f"http://127.0.0.1:{port}"
        with _connect(local) as silent:
            _assert_closed_by_timer(silent)
        with _connect(local) as partial:
            partial.sendall(b"GET / HTTP/1.1\r\nHost")
            _assert_closed_by_timer(partial)
        with _connect(local) as whole:
            whole.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert whole.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _server_errors(served: Served) -> float:
    text = httpx.get(f"{served.base}/metrics", headers={"X-CREDYT-API-KEY": served.secret}).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("drawdown_http_request_duration_seconds_count") and 'status="5xx"' in line)


def test_a_client_that_leaves_mid_body_is_no_server_error(served: Served) -> None:
    """A client that closes its connection before its body is complete has nothing recorded and is not
    counted as a 5xx (nor logged as an unhandled error): it is the client's doing."""
    before = _server_errors(served)
    for _ in range(3):
        sock = _connect(served.base)
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-CREDYT-API-KEY: " + served.secret.encode() + b"\r\nContent-Length: 400\r\n\r\n"
                     b'{"customer_id": "cust_')
        time.sleep(0.2)
        sock.close()
    time.sleep(0.5)
    assert httpx.get(f"{served.base}/health").status_code == 200
    assert _server_errors(served) == before
