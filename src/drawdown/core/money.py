"""Exact money.

Every amount in Drawdown is a ``Decimal``. At rest it is a scaled integer: the amount times
``SCALE`` (10**9), so one stored unit is a nano-unit of the asset. Nine decimal places hold a
0.000001-per-token price times any whole token count exactly, and a signed 64-bit column still holds
amounts up to about 9.2 billion units of an asset.

Rounding rule (docs/money.md): a computed amount with more than nine decimal places is rounded to
nine with ROUND_HALF_EVEN. Amounts that *arrive* with more than nine places are refused, never
rounded, because silently changing what a caller sent is worse than an error.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

DECIMAL_PLACES = 9
SCALE = 10**DECIMAL_PLACES
QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
MAX_SCALED = 2**63 - 1
MAX_AMOUNT = Decimal(MAX_SCALED) / SCALE


class MoneyError(ValueError):
    """An amount that cannot be represented exactly."""


def check_exact(value: Decimal) -> Decimal:
    """Accept a caller's amount only if it is finite, fits, and has at most nine decimal places."""
    if not isinstance(value, Decimal):
        raise MoneyError("must be a decimal number")
    if not value.is_finite():
        raise MoneyError("must be a finite number")
    exponent = value.as_tuple().exponent  # an int: the value is finite
    too_fine = isinstance(exponent, int) and exponent < -DECIMAL_PLACES
    if too_fine and value != value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN):
        raise MoneyError(f"must have at most {DECIMAL_PLACES} decimal places")
    if abs(value) > MAX_AMOUNT:
        raise MoneyError(f"must be at most {MAX_AMOUNT} in magnitude")
    return value


# One context for the hot conversions (a ``localcontext`` per call costs more than the arithmetic):
# 60 digits hold any amount that fits the column, with room to spare, so nothing here is rounded
# except by the explicit rule in ``quantize``.
_EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


def quantize(value: Decimal) -> Decimal:
    """Round a computed amount to the storage scale (ROUND_HALF_EVEN).

    A value too large to hold at nine places in 60 digits (``1e400``) raises ``MoneyError``, a
    ValueError the callers already turn into the caller's mistake, never a bare InvalidOperation.
    """
    try:
        return value.quantize(QUANTUM, context=_EXACT)
    except (InvalidOperation, Overflow):
        raise MoneyError(f"{value} is too large to be an amount") from None


def to_scaled(value: Decimal) -> int:
    """Decimal -> stored integer. Refuses (never rounds) values finer than the scale."""
    if not value.is_finite():
        raise MoneyError(f"{value} is not a finite number")
    scaled = value.scaleb(DECIMAL_PLACES, context=_EXACT)
    result = int(scaled)
    if scaled != result:
        raise MoneyError(f"{value} has more than {DECIMAL_PLACES} decimal places")
    if abs(result) > MAX_SCALED:
        raise MoneyError(f"{value} is too large")
    return result


def from_scaled(value: int) -> Decimal:
    """Stored integer -> Decimal, exact, without trailing zeros or exponent notation."""
    return plain(Decimal(int(value)).scaleb(-DECIMAL_PLACES))


def plain(value: Decimal) -> Decimal:
    """The same number written without exponent or trailing zeros (``1E+3`` -> ``1000``)."""
    try:
        text = format(value.normalize(), "f")
    except InvalidOperation as exc:  # pragma: no cover - only non-finite values reach here
        raise MoneyError(str(exc)) from exc
    return Decimal(text)


def to_minor(value: Decimal, precision: int) -> int:
    """An amount in a currency's minor units (cents for USD, yen for JPY), as payment providers take it.
    Refuses, never rounds, an amount finer than the currency allows (``10.001`` USD)."""
    minor = value.scaleb(precision, context=_EXACT)
    result = int(minor)
    if minor != result:
        raise MoneyError(f"{plain(value)} has more than {precision} decimal places for this currency")
    return result


def from_minor(value: int, precision: int) -> Decimal:
    """Minor units back to an exact amount (``1050`` cents -> ``10.5``)."""
    return plain(Decimal(int(value)).scaleb(-precision))
