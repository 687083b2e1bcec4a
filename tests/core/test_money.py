from decimal import Decimal

import pytest

from drawdown.core.money import MoneyError, check_exact, from_scaled, plain, quantize, to_scaled


def test_round_trip_is_exact() -> None:
    for text in ("0", "0.000000001", "-12.5", "9223372036.854775807", "1000000"):
        assert from_scaled(to_scaled(Decimal(text))) == Decimal(text)


def test_finer_than_the_scale_is_refused_not_rounded() -> None:
    with pytest.raises(MoneyError):
        to_scaled(Decimal("0.0000000001"))
    with pytest.raises(MoneyError):
        check_exact(Decimal("1.0000000005"))
    assert check_exact(Decimal("1.0000000000000")) == 1


def test_out_of_range_and_non_finite_are_refused() -> None:
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("1e20")):
        with pytest.raises(MoneyError):
            check_exact(bad)


def test_rounding_is_half_even_at_nine_places() -> None:
    assert quantize(Decimal("0.0000000005")) == Decimal("0")
    assert quantize(Decimal("0.0000000015")) == Decimal("0.000000002")
    assert quantize(Decimal("0.0000000025")) == Decimal("0.000000002")
    assert quantize(Decimal(1) / 3) == Decimal("0.333333333")


def test_plain_drops_exponents() -> None:
    assert str(plain(Decimal("1E+3"))) == "1000"
    assert str(plain(Decimal("0.000300"))) == "0.0003"
