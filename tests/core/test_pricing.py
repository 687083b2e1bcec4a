"""Rating rules, table-driven with hand-computed amounts."""

from decimal import Decimal as D

import pytest

from drawdown.core.pricing import PriceEntry, PriceValue, RatingError, UsagePrice, rate


def price(usage_type: str, entries, dims=(), volume_field="v") -> UsagePrice:  # noqa: ANN001
    return UsagePrice("prc_1", "p", "e", usage_type, "USD", tuple(entries), volume_field, tuple(dims))


@pytest.mark.parametrize(
    "usage_type, value, data, expected",
    [
        ("unit", PriceValue(unit_price=D("0.05")), {}, D("0.05")),
        ("volume", PriceValue(volume_rate=D("0.000001")), {"v": 1_000_000}, D("1")),
        ("volume", PriceValue(volume_rate=D("0.000001")), {"v": 1}, D("0.000001")),
        ("volume", PriceValue(volume_rate=D("1.25"), package_size=1_000_000), {"v": 1_000_000}, D("1.25")),
        ("volume", PriceValue(volume_rate=D("1.25"), package_size=1_000_000), {"v": 1}, D("0.000001250")),
        ("volume", PriceValue(volume_rate=D("1"), package_size=3), {"v": 1}, D("0.333333333")),
        ("volume", PriceValue(volume_rate=D("2"), package_size=3), {"v": 1}, D("0.666666667")),
        ("volume", PriceValue(volume_rate=D("0.4")), {"v": "2.5"}, D("1")),
        ("unit_and_volume", PriceValue(unit_price=D("0.05"), volume_rate=D("0.0001")), {"v": 2000}, D("0.25")),
        ("unit_and_volume", PriceValue(unit_price=D("0.05"), volume_rate=D("0.0001"), min_amount=D("0.06")), {"v": 1}, D("0.06")),
        ("volume", PriceValue(volume_rate=D("1"), max_amount=D("10")), {"v": 11}, D("10")),
        ("volume", PriceValue(volume_rate=D("1"), max_amount=D("10")), {"v": 10}, D("10")),
        ("volume", PriceValue(volume_rate=D("1")), {"v": 0}, D("0")),
    ],
)
def test_amounts(usage_type, value, data, expected) -> None:  # noqa: ANN001
    rated = rate(price(usage_type, [PriceEntry(value)]), data)
    assert rated is not None and rated.amount == expected


def test_dimensions_exact_then_wildcard_then_none() -> None:
    entries = [
        PriceEntry(PriceValue(volume_rate=D("1")), {"model": "a", "speed": "fast"}, "a-fast"),
        PriceEntry(PriceValue(volume_rate=D("2")), {"model": "a", "speed": "*"}, "a-any"),
        PriceEntry(PriceValue(volume_rate=D("3")), {"model": "*", "speed": "*"}, "any"),
    ]
    p = price("volume", entries, dims=("model", "speed"))
    assert rate(p, {"v": 1, "model": "a", "speed": "fast"}).description == "a-fast"
    assert rate(p, {"v": 1, "model": "a", "speed": "slow"}).description == "a-any"
    assert rate(p, {"v": 1, "model": "b"}).description == "any"
    strict = price("volume", entries[:1], dims=("model", "speed"))
    assert rate(strict, {"v": 1, "model": "b", "speed": "fast"}) is None


def test_booleans_and_numbers_match_dimensions_as_text() -> None:
    entries = [PriceEntry(PriceValue(unit_price=D("1")), {"hd": "true", "n": "4"})]
    p = price("unit", entries, dims=("hd", "n"))
    assert rate(p, {"hd": True, "n": 4}).amount == 1


@pytest.mark.parametrize("data", [{}, {"v": True}, {"v": "x"}, {"v": -1}, {"v": "NaN"}])
def test_unusable_volume_names_the_field(data) -> None:  # noqa: ANN001
    with pytest.raises(RatingError) as seen:
        rate(price("volume", [PriceEntry(PriceValue(volume_rate=D("1")))]), data)
    assert seen.value.field == "data.v"
