"""Each webhook test acts in a fresh platform of its own (a live scope and a key), so no other test's
events reach its receivers and its destinations reach nobody else's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from corehttp.credentials import ServiceKeyCredential
from credytapi import CredytApiClient

from drawdown.accounts import service as accounts
from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import Scope
from drawdown.db.engine import write
from tests.conftest import Server


@dataclass
class Platform:
    scope: Scope
    key: str
    client: Any  # the official client, in this platform's live scope
    http: httpx.Client  # plain HTTP, for what the client does not show (problem bodies, headers)


def new_platform(server: Server, name: str = "Hooks") -> tuple[Scope, str]:
    now = datetime.now(UTC)
    with write(server.engine) as conn:
        account = accounts.create_platform(conn, name, now)
        scope = accounts.scope_for(conn, account.id, "live")
        _, secret = api_keys.create(conn, scope, "hooks", now)
    return scope, secret


@pytest.fixture
def platform(server: Server) -> Iterator[Platform]:
    scope, secret = new_platform(server)
    with (
        CredytApiClient(credential=ServiceKeyCredential(secret), endpoint=server.url) as client,
        httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": secret}, timeout=30) as http,
    ):
        yield Platform(scope, secret, client, http)
