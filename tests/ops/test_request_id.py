"""X-Request-ID on every response, and in every log line of the request."""

from __future__ import annotations

import re

import pytest
import structlog
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from drawdown.api.operations import Drawdown, request_id
from drawdown.ops.metrics import Metrics


def test_a_sane_incoming_id_is_echoed(http) -> None:
    for path in ("/health", "/customers/cust_missing", "/metrics"):
        response = http.get(path, headers={"X-Request-ID": "abc-123_XYZ"})
        assert response.headers["x-request-id"] == "abc-123_XYZ"


@pytest.mark.parametrize("incoming", [None, "", "a" * 129, "has space", "semi;colon", "é"])
def test_an_absent_or_insane_id_is_replaced_by_a_new_one(http, incoming) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming.encode("utf-8")}
    first = http.post("/events", json={"events": []}, headers=headers)  # an error response carries one too
    second = http.get("/health", headers=headers)
    ids = first.headers["x-request-id"], second.headers["x-request-id"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]


def test_the_id_rule() -> None:
    assert request_id("a" * 128) == "a" * 128
    assert request_id("a" * 129) != "a" * 129
    assert request_id("x\ny") != "x\ny"


def test_log_lines_of_a_request_carry_its_id() -> None:
    app = Drawdown(Metrics())
    log = structlog.get_logger()

    @app.get("/work")
    async def work() -> dict[str, str]:
        log.info("async_work")
        return {}

    @app.get("/sync-work")
    def sync_work() -> dict[str, str]:  # run in the thread pool: the context must follow
        log.info("sync_work")
        return {}

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        client = TestClient(app)
        a = client.get("/work", headers={"X-Request-ID": "trace-me-1"})
        b = client.get("/sync-work")
        log.info("outside")
    assert a.headers["x-request-id"] == "trace-me-1"
    by_event = {line["event"]: line for line in lines}
    assert by_event["async_work"]["request_id"] == "trace-me-1"
    assert by_event["sync_work"]["request_id"] == b.headers["x-request-id"]
    assert "request_id" not in by_event["outside"]
