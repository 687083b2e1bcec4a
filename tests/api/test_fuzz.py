"""Schema-driven fuzzing of every operation with Schemathesis: whatever arrives, never a 500,
and every error is problem+json."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from drawdown.api.app import create_app
from drawdown.settings import Settings

schema = schemathesis.openapi.from_dict(create_app(Settings(database_url="sqlite://")).openapi())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, server) -> None:
    response = case.call(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key})
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
    if response.status_code >= 400:
        content_type = response.headers["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), response.text
