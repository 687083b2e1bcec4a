"""Tiered, bulk, package and custom prices through the API; tier positions exact under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx

from tests.api.helpers import customer_on, event, gift, make_asset
from tests.conftest import unique


def product(client, asset: str, model: str, values: list, **calc) -> dict:
    usage = {"event_type": "completion", "usage_type": "volume", "volume_field": "tokens", **calc}
    price = {
        "name": f"{model} tokens",
        "type": "usage_based",
        "pricing_model": model,
        "billing_model": {"type": "real_time"},
        "usage_calculation": usage,
        "pricing": [{"asset": asset, "values": values}],
    }
    if model in ("tiered", "bulk"):
        price["tiering"] = {"basis": "volume", "period": "lifetime"}
    return client.products.create({"name": model, "code": unique(model), "publish": True, "prices": [price]})


TIERS = [
    {"volume_rate": Decimal("0.01"), "up_to": 500},
    {"volume_rate": Decimal("0.005"), "up_to": 1000},
    {"volume_rate": Decimal("0.001")},
]


def fee(client, ev: dict) -> Decimal:
    return Decimal(str(client.events.get(ev["id"])["fees"][0]["amount"]))


def test_graduated_tiers_split_an_event_across_the_edge(client) -> None:
    asset = make_asset(client)
    p = product(client, asset, "tiered", TIERS)
    customer_id = customer_on(client, p["code"])
    gift(client, customer_id, asset, "100")
    evs = [event(tokens=400), event(tokens=200), event(tokens=500), event(tokens=100)]
    client.events.send_usage({"customer_id": customer_id, "events": evs})
    # 400@0.01 | 100@0.01 + 100@0.005 | 400@0.005 + 100@0.001 | 100@0.001
    assert [fee(client, e) for e in evs] == [Decimal("4"), Decimal("1.5"), Decimal("2.1"), Decimal("0.1")]


def test_bulk_and_package(client) -> None:
    asset = make_asset(client)
    bulk = product(client, asset, "bulk", TIERS)
    pack = product(client, asset, "package", [{"unit_price": Decimal("3"), "package_size": 100}])
    for p, sizes, expected in (
        (bulk, [400, 200, 500], [Decimal("4"), Decimal("1"), Decimal("0.5")]),
        (
            pack,
            [50, 50, 1, 250],
            [Decimal("3"), Decimal("0"), Decimal("3"), Decimal("6")],
        ),  # 101..351 starts packages 3 and 4
    ):
        customer_id = customer_on(client, p["code"])
        gift(client, customer_id, asset, "100")
        evs = [event(tokens=n) for n in sizes]
        client.events.send_usage({"customer_id": customer_id, "events": evs})
        assert [fee(client, e) for e in evs] == expected


def test_custom_usage_expression(client, http) -> None:
    asset = make_asset(client)
    p = client.products.create(
        {
            "name": "custom",
            "code": unique("custom"),
            "publish": True,
            "prices": [
                {
                    "name": "weighted tokens",
                    "type": "usage_based",
                    "billing_model": {"type": "real_time"},
                    "usage_calculation": {
                        "event_type": "completion",
                        "usage_type": "custom",
                        "volume_aggregation": "input + 4 * output",
                    },
                    "pricing": [{"asset": asset, "values": [{"volume_rate": Decimal("0.001")}]}],
                }
            ],
        }
    )
    customer_id = customer_on(client, p["code"])
    gift(client, customer_id, asset, "10")
    ev = event(input=1000, output=250)
    client.events.send_usage({"customer_id": customer_id, "events": [ev]})
    assert fee(client, ev) == 2
    missing = http.post("/events", json={"customer_id": customer_id, "events": [event(input=5)]})
    assert missing.status_code == 422 and "events[0].data.output" in missing.json()["errors"]


def test_concurrent_events_on_a_tiered_price_bill_as_in_sequence(server, client) -> None:
    asset = make_asset(client)
    p = product(client, asset, "tiered", TIERS)
    customer_id = customer_on(client, p["code"])
    gift(client, customer_id, asset, "100")
    evs = [event(tokens=70) for _ in range(30)]  # 2,100 tokens in all

    def send(ev: dict) -> int:
        with httpx.Client(base_url=server.url, headers={"X-CREDYT-API-KEY": server.key}, timeout=60) as c:
            return c.post("/events", json={"customer_id": customer_id, "events": [ev]}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(send, evs)) == [204] * 30
    fees = sorted(fee(client, e) for e in evs)
    # The same events in sequence (simulate-usage rates them in order from position 0): the k-th
    # event to commit takes the k-th position, whatever the interleaving, so the fees are the same.
    simulated = client.products.simulate_usage(p["id"], 1, {"events": evs})
    assert fees == sorted(Decimal(str(f["amount"])) for f in simulated["fees"])
    total = sum(fees)
    assert total == Decimal("5") + Decimal("2.5") + Decimal("1.1")
    got = client.wallets.customer_wallet_ops.get_account(customer_id, f"default:{asset}")
    assert Decimal(str(got["available"])) == 100 - total


def test_each_dimensional_entry_has_its_own_tiers_and_position(client) -> None:
    asset = make_asset(client)
    values = [
        {
            "dimensions": {"model": "large"},
            "values": [{"volume_rate": Decimal("0.02"), "up_to": 100}, {"volume_rate": Decimal("0.01")}],
        },
        {
            "dimensions": {"model": "*"},
            "values": [{"volume_rate": Decimal("0.002"), "up_to": 100}, {"volume_rate": Decimal("0.001")}],
        },
    ]
    p = product(client, asset, "tiered", values, billable_dimensions=["model"])
    customer_id = customer_on(client, p["code"])
    gift(client, customer_id, asset, "100")
    evs = [
        event(model="large", tokens=80),
        event(model="small", tokens=80),
        event(model="large", tokens=40),
        event(model="small", tokens=40),
    ]
    client.events.send_usage({"customer_id": customer_id, "events": evs})
    # large: 80 x 0.02, then 20 x 0.02 + 20 x 0.01; small: 80 x 0.002, then 20 x 0.002 + 20 x 0.001
    assert [fee(client, e) for e in evs] == [Decimal("1.6"), Decimal("0.16"), Decimal("0.6"), Decimal("0.06")]
