"""Rating rules, table-driven with hand-computed amounts."""

from decimal import Decimal as D

import pytest

from drawdown.core.pricing import PriceEntry, PriceValue, RatingError, UsagePrice, rate


def price(usage_type: str, entries, dims=(), volume_field="v") -> UsagePrice:
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
        (
            "unit_and_volume",
            PriceValue(unit_price=D("0.05"), volume_rate=D("0.0001"), min_amount=D("0.06")),
            {"v": 1},
            D("0.06"),
        ),
        ("volume", PriceValue(volume_rate=D("1"), max_amount=D("10")), {"v": 11}, D("10")),
        ("volume", PriceValue(volume_rate=D("1"), max_amount=D("10")), {"v": 10}, D("10")),
        ("volume", PriceValue(volume_rate=D("1")), {"v": 0}, D("0")),
    ],
)
def test_amounts(usage_type, value, data, expected) -> None:
    rated = rate(price(usage_type, [PriceEntry((value,))]), data)
    assert rated is not None and rated.amount == expected


def test_dimensions_exact_then_wildcard_then_none() -> None:
    entries = [
        PriceEntry((PriceValue(volume_rate=D("1")),), {"model": "a", "speed": "fast"}, "a-fast"),
        PriceEntry((PriceValue(volume_rate=D("2")),), {"model": "a", "speed": "*"}, "a-any"),
        PriceEntry((PriceValue(volume_rate=D("3")),), {"model": "*", "speed": "*"}, "any"),
    ]
    p = price("volume", entries, dims=("model", "speed"))
    assert rate(p, {"v": 1, "model": "a", "speed": "fast"}).description == "a-fast"
    assert rate(p, {"v": 1, "model": "a", "speed": "slow"}).description == "a-any"
    assert rate(p, {"v": 1, "model": "b"}).description == "any"
    strict = price("volume", entries[:1], dims=("model", "speed"))
    assert rate(strict, {"v": 1, "model": "b", "speed": "fast"}) is None


def test_booleans_and_numbers_match_dimensions_as_text() -> None:
    entries = [PriceEntry((PriceValue(unit_price=D("1")),), {"hd": "true", "n": "4"})]
    p = price("unit", entries, dims=("hd", "n"))
    assert rate(p, {"hd": True, "n": 4}).amount == 1


@pytest.mark.parametrize("data", [{}, {"v": True}, {"v": "x"}, {"v": -1}, {"v": "NaN"}])
def test_unusable_volume_names_the_field(data) -> None:
    with pytest.raises(RatingError) as seen:
        rate(price("volume", [PriceEntry((PriceValue(volume_rate=D("1")),))]), data)
    assert seen.value.field == "data.v"


# ------------------------------------------------------------------------------- tiered models
def tiers(*spec) -> tuple[PriceValue, ...]:
    """spec: (up_to or None, rate) pairs, rate per unit of the basis."""
    return tuple(PriceValue(volume_rate=D(r), up_to=None if u is None else D(u)) for u, r in spec)


TOKENS = tiers((1000, "0.01"), (5000, "0.008"), (None, "0.005"))


def tiered(model: str, values=TOKENS, basis=None) -> UsagePrice:
    return UsagePrice("prc_t", "t", "e", "volume", "USD", (PriceEntry(values),), "v", (), model, basis)


@pytest.mark.parametrize(
    "position, volume, expected",
    [
        (0, 1000, D("10")),  # exactly fills tier 1
        (0, 1001, D("10.008")),  # one unit over the edge
        (999, 1, D("0.01")),  # the 1000th unit is still tier 1
        (1000, 1, D("0.008")),  # the 1001st is tier 2
        (500, 1000, D("5") + D("4")),  # straddles: 500 in tier 1, 500 in tier 2
        (0, 6000, D("10") + D("32") + D("5")),  # crosses both edges
        (5000, 10, D("0.05")),  # all in the open last tier
        (4999, 2, D("0.008") + D("0.005")),
        (0, 0, D("0")),
    ],
)
def test_graduated_tiers_at_and_across_every_edge(position, volume, expected) -> None:
    rated = rate(tiered("tiered"), {"v": volume}, D(position))
    assert rated.amount == expected and rated.quantity == D(volume)


@pytest.mark.parametrize(
    "position, volume, expected",
    [
        (0, 1000, D("10")),  # total 1000 reaches tier 1: all at 0.01
        (0, 1001, D("8.008")),  # total 1001 reaches tier 2: all 1001 at 0.008
        (999, 2, D("0.016")),
        (4000, 1000, D("8")),  # total 5000: tier 2 edge, inclusive
        (4000, 1001, D("5.005")),  # total 5001: tier 3
    ],
)
def test_bulk_prices_every_unit_at_the_tier_the_total_reaches(position, volume, expected) -> None:
    assert rate(tiered("bulk"), {"v": volume}, D(position)).amount == expected


def test_fractional_rates_in_tiers_are_exact() -> None:
    values = tiers((1_000_000, "0.000001"), (None, "0.0000005"))
    rated = rate(tiered("tiered", values), {"v": 1_500_001}, D(0))
    assert rated.amount == D("1") + D("0.2500005")


@pytest.mark.parametrize(
    "position, volume, expected",
    [
        (0, 1, D("2")),  # the first unit starts package 1
        (1, 99, D("0")),  # still inside package 1
        (0, 100, D("2")),  # exactly one package
        (0, 101, D("4")),  # starts package 2
        (100, 1, D("2")),  # 101st unit starts package 2
        (150, 250, D("4")),  # 151..400: packages 2, 3 and 4; 2 already started -> 3 and 4
    ],
)
def test_package_charges_each_started_package_once(position, volume, expected) -> None:
    p = tiered("package", (PriceValue(unit_price=D("2"), package_size=100),))
    assert rate(p, {"v": volume}, D(position)).amount == expected


def test_tiers_by_package_basis_count_started_packages() -> None:
    values = (PriceValue(unit_price=D("1"), package_size=10, up_to=D(2)), PriceValue(unit_price=D("0.5")))
    p = tiered("tiered", values, basis="package")
    assert rate(p, {"v": 25}, D(0)).amount == D("2.5")  # 3 packages: 2 at 1, 1 at 0.5
    assert rate(p, {"v": 5}, D(25)).amount == D("0")  # still inside package 3


def test_min_and_max_bound_a_tiered_event() -> None:
    values = (
        PriceValue(volume_rate=D("0.01"), up_to=D(10), min_amount=D("0.05"), max_amount=D("0.5")),
        PriceValue(volume_rate=D("0.1")),
    )
    p = tiered("tiered", values)
    assert rate(p, {"v": 1}, D(0)).amount == D("0.05")
    assert rate(p, {"v": 100}, D(0)).amount == D("0.5")


def test_custom_usage_expressions() -> None:
    from drawdown.core.expressions import Expression

    p = UsagePrice(
        "prc_c",
        "c",
        "e",
        "custom",
        "USD",
        (PriceEntry((PriceValue(unit_price=D("0.5"), volume_rate=D("0.001")),)),),
        unit_expression=Expression("1 if cached == false else 0"),
        volume_expression=Expression("input + 4 * output"),
    )
    rated = rate(p, {"input": 1000, "output": 250, "cached": False})
    assert rated.amount == D("0.5") + D("2")
    with pytest.raises(RatingError) as seen:
        rate(p, {"input": 1, "cached": True})
    assert seen.value.field == "data.output"
