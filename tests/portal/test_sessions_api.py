"""POST /billing-portal/sessions through the official client, and the branding settings' validation."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest
from corehttp.exceptions import HttpResponseError
from sqlalchemy import select

from drawdown.db.engine import read
from drawdown.db.tables import portal_sessions
from tests.conftest import Server, unique

URLS = {"return_url": "https://platform.example/app", "failure_url": "https://platform.example/portal-failed"}


def _customer(http: httpx.Client) -> str:
    resp = http.post("/customers", json={"name": "Ada", "external_id": unique("ada")})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_a_session_through_the_official_client(server: Server, client: Any, http: httpx.Client) -> None:
    customer = _customer(http)
    made = client.billing_portal.create_portal_session({"customer_id": customer, **URLS})
    assert made.redirect_url.startswith(f"{server.settings.public_url.rstrip('/')}/portal/open/")
    token = made.redirect_url.rsplit("/", 1)[1]
    with read(server.engine) as conn:
        row = conn.execute(select(portal_sessions).where(portal_sessions.c.customer_id == customer)).one()
    # Ten minutes to open it; only a hash of the link's secret is kept.
    assert row.link_expires_at - row.created_at == timedelta(minutes=10)
    assert made.expires_at == row.link_expires_at
    assert token.split(".", 1)[1] not in str(tuple(row)) and len(row.link_hash) == 64
    assert row.scope_id == 1 and row.used_at is None


def test_an_unknown_customer_is_a_422_naming_it(client: Any, http: httpx.Client) -> None:
    with pytest.raises(HttpResponseError) as raised:
        client.billing_portal.create_portal_session({"customer_id": "cust_01jz000000000000000000000a", **URLS})
    assert raised.value.status_code == 422
    resp = http.post("/billing-portal/sessions", json={"customer_id": "nobody", **URLS})
    assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")
    assert "customer_id" in resp.json()["errors"]
    bad = http.post("/billing-portal/sessions", json={"customer_id": _customer(http), "return_url": "javascript:x",
                                                      "failure_url": URLS["failure_url"]})
    assert bad.status_code == 422 and "return_url" in bad.text


PNG = b"\x89PNG\r\n\x1a\n"


def _data(kind: str, image: bytes) -> str:
    return f"data:{kind};base64," + base64.b64encode(image).decode()


@pytest.mark.parametrize(("field", "value"), [
    ("primary_color", "red"), ("primary_color", "#12345"), ("primary_color", "#1234567"),
    ("logo_url", "ftp://cdn.example/logo.png"), ("logo_url", "https://cdn.example/logo.gif"),
    ("logo_url", "https://cdn.example/logo"), ("support_url", "javascript:alert(1)"), ("display_name", ""),
    ("display_name", "x" * 101), ("logo_url", "https://cdn.example/" + "a" * 2000 + ".png"),
    ("logo_url", _data("image/png", b"GIF89a" + bytes(10))),  # a GIF said to be a PNG
    ("logo_url", _data("image/gif", b"GIF89a" + bytes(10))),  # a type pages do not take
    ("logo_url", _data("image/png", PNG + bytes(64 * 1024))),  # over 64 KiB
    ("logo_url", "data:image/png;base64,not base64!"), ("logo_url", "data:" + "A" * 200_001),
])
def test_branding_is_validated(http: httpx.Client, field: str, value: str) -> None:
    resp = http.put("/billing-portal/settings", json={field: value})
    assert resp.status_code == 422, resp.text
    assert field in resp.json()["errors"], resp.json()


@pytest.mark.parametrize("logo", [_data("image/png", PNG + bytes(60 * 1024)),
                                  _data("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"/>')])
def test_a_logo_may_be_sent_as_the_image_itself(http: httpx.Client, logo: str) -> None:
    """Up to 64 KiB, its type checked against its bytes: then its size is known, unlike an address's."""
    put = http.put("/billing-portal/settings", json={"logo_url": logo})
    assert put.status_code == 200, put.text
    assert http.get("/billing-portal/settings").json()["logo_url"] == logo
    http.put("/billing-portal/settings", json={})


def test_branding_is_kept_per_scope(http: httpx.Client) -> None:
    wanted = {"display_name": "Acme AI", "logo_url": "https://cdn.example/acme.SVG", "primary_color": "#0F766E",
              "support_url": "https://acme.example/help"}
    put = http.put("/billing-portal/settings", json=wanted)
    assert put.status_code == 200, put.text
    got = http.get("/billing-portal/settings").json()
    assert got["display_name"] == "Acme AI" and got["primary_color"] == "#0f766e" and got["updated_at"]
    http.put("/billing-portal/settings", json={})  # back to the operator's defaults for other tests
    assert http.get("/billing-portal/settings").json()["display_name"] is None
