"""Accounts through the official client: connected accounts, the caller's context, X-CREDYT-ACCOUNT,
and keys that can be listed, revoked and told apart by environment."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from corehttp.credentials import ServiceKeyCredential
from corehttp.exceptions import HttpResponseError
from credytapi import CredytApiClient

from drawdown.accounts import service as accounts
from drawdown.apikeys import service as api_keys
from drawdown.core.scopes import DEFAULT_ACCOUNT, DEFAULT_LIVE, DEFAULT_TEST, Scope
from drawdown.db.engine import read, write
from tests.conftest import Server, unique


def _key(server: Server, scope: Scope, name: str = "k") -> str:
    with write(server.engine) as conn:
        return api_keys.create(conn, scope, name, datetime.now(UTC))[1]


def _client(server: Server, secret: str) -> CredytApiClient:
    return CredytApiClient(credential=ServiceKeyCredential(secret), endpoint=server.url)


def _http(server: Server, secret: str, account: str | None = None) -> httpx.Client:
    headers = {"X-CREDYT-API-KEY": secret} | ({"X-CREDYT-ACCOUNT": account} if account else {})
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _status(call) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(HttpResponseError) as caught:
        call()
    return caught.value.status_code


def test_context_names_account_and_environment(server: Server, client) -> None:
    live = client.accounts.get_context()
    assert (live.account_id, live.environment, live.org_id) == (DEFAULT_ACCOUNT, "live", "org_" + "0" * 26)
    with _client(server, _key(server, DEFAULT_TEST)) as test:
        assert test.accounts.get_context().environment == "test"


def test_connected_accounts_are_created_listed_and_read_by_their_platform(server: Server, client) -> None:
    external = unique("tenant")
    made = client.accounts.create({"name": "Tenant", "external_id": external, "metadata": {"tier": "gold"}})
    assert made.id.startswith("acc_")
    got = client.accounts.get(made.id)
    assert (got.name, got.external_id, got["metadata"]) == ("Tenant", external, {"tier": "gold"})
    page = client.accounts.list(external_id=external)
    assert [a["id"] for a in page["items"]] == [made.id] and page["total_count"] == 1
    assert _status(lambda: client.accounts.create({"name": "again", "external_id": external})) == 409
    # The test environment has its own connected accounts: the live one is unknown there.
    with _client(server, _key(server, DEFAULT_TEST)) as test:
        assert _status(lambda: test.accounts.get(made.id)) == 404
        assert test.accounts.list(external_id=external)["total_count"] == 0
        assert test.accounts.create({"name": "Tenant", "external_id": external}).id != made.id


def test_platform_acts_inside_its_connected_account(server: Server, client) -> None:
    child = client.accounts.create({"name": "Child"}).id
    with _http(server, server.key, child) as inside, _http(server, server.key) as platform:
        context = inside.get("/accounts/self").json()
        assert (context["account_id"], context["environment"]) == (child, "live")
        customer = inside.post("/customers", json={"name": "Of the child", "external_id": "same"})
        assert customer.status_code == 201, customer.text
        cid = customer.json()["id"]
        assert inside.get(f"/customers/{cid}").status_code == 200
        # The platform's own scope does not see it, and may reuse the external id.
        assert platform.get(f"/customers/{cid}").status_code == 404
        own = platform.post("/customers", json={"name": "Of the platform", "external_id": unique("same")})
        assert own.status_code == 201
        assert inside.get(f"/customers/{own.json()['id']}").status_code == 404


def test_account_header_is_refused_unless_the_key_owns_the_account(server: Server, client) -> None:
    first, sibling = client.accounts.create({"name": "A"}).id, client.accounts.create({"name": "B"}).id
    with write(server.engine) as conn:
        first_scope = accounts.connected_scope(conn, DEFAULT_LIVE, first)
        other = accounts.create_platform(conn, "Other platform", datetime.now(UTC))
        other_live = accounts.scope_for(conn, other.id, "live")
    assert first_scope is not None
    cases = [
        (_key(server, first_scope), sibling),  # a connected account's key naming its sibling
        (_key(server, DEFAULT_TEST), first),  # the platform's test key naming a live connected account
        (_key(server, other_live), first),  # another platform
        (server.key, "acc_00000000000000000000000042"),  # unknown
        (server.key, "not-an-account"),  # malformed
        (server.key, "acc_" + "x" * 500),  # absurd
    ]
    for secret, account in cases:
        with _http(server, secret, account) as c:
            for resp in (c.get("/customers"), c.post("/customers", json={"name": "x"}), c.get("/accounts/self")):
                assert resp.status_code == 403, (account, resp.text)
                assert resp.headers["content-type"].startswith("application/problem+json")
                assert "X-CREDYT-ACCOUNT" in resp.json()["detail"]
    # Another platform's key reads nothing of this one's.
    with _client(server, _key(server, other_live)) as foreign:
        assert _status(lambda: foreign.accounts.get(first)) == 404
        assert foreign.accounts.list()["total_count"] == 0
        assert foreign.accounts.get_context().account_id == other.id


def test_keys_show_their_environment_and_are_revoked_at_once(server: Server) -> None:
    with _http(server, server.key) as c:
        made = c.post("/api-keys", json={"name": "rotation"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["secret"].startswith("key_live_") and body["hint"].startswith("key_live_")
        assert body["environment"] == "live" and body["last_used_at"] is None
    with _http(server, body["secret"]) as fresh:
        assert fresh.get("/accounts/self").status_code == 200
        listed = {k["id"]: k for k in fresh.get("/api-keys").json()}
        assert listed[body["id"]]["last_used_at"] is not None and "secret" not in listed[body["id"]]
        assert fresh.delete(f"/api-keys/{body['id']}").status_code == 204  # a key may retire itself
        gone = fresh.get("/accounts/self")
        assert gone.status_code == 401 and gone.headers["content-type"].startswith("application/problem+json")
    with _http(server, server.key) as c:
        revoked = {k["id"]: k for k in c.get("/api-keys").json()}[body["id"]]
        assert revoked["revoked_at"] is not None
        assert c.delete(f"/api-keys/{body['id']}").status_code == 204  # again: no change, no error
        assert c.delete("/api-keys/key_00000000000000000000000000").status_code == 404
    test_secret = _key(server, DEFAULT_TEST)
    assert test_secret.startswith("key_test_")
    with _http(server, test_secret) as test:
        # A test key neither lists nor revokes live keys.
        assert body["id"] not in {k["id"] for k in test.get("/api-keys").json()}
    with read(server.engine) as conn:
        stored = [k for k in api_keys.list_all(conn) if k.id == body["id"]]
    assert stored and stored[0].revoked_at is not None


def test_a_test_key_cannot_revoke_a_live_key(server: Server) -> None:
    with write(server.engine) as conn:
        live_id, live_secret = api_keys.create(conn, DEFAULT_LIVE, "victim", datetime.now(UTC))
    with _http(server, _key(server, DEFAULT_TEST)) as test:
        assert test.delete(f"/api-keys/{live_id}").status_code == 404
    with _http(server, live_secret) as live:
        assert live.get("/accounts/self").status_code == 200
