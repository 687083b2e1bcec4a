"""The pure hold rules (core/holds.py): expiry, open or closed as of a moment, the hold-first split,
what a hold is missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drawdown.core import holds as rules

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
D = Decimal


def test_expiry_defaults_to_15_minutes_and_never_passes_7_days() -> None:
    assert rules.expiry(NOW, None, None) == NOW + timedelta(minutes=15)
    assert rules.expiry(NOW, None, 60) == NOW + timedelta(seconds=60)
    assert rules.expiry(NOW, None, 7 * 86400) == NOW + timedelta(days=7)
    assert rules.expiry(NOW, NOW + timedelta(days=7), None) == NOW + timedelta(days=7)
    for expires_at, ttl, field in (
        (None, 7 * 86400 + 1, "ttl_seconds"),
        (None, 0, "ttl_seconds"),
        (NOW, None, "expires_at"),
        (NOW + timedelta(days=7, seconds=1), None, "expires_at"),
        (NOW + timedelta(hours=1), 60, "ttl_seconds"),
    ):
        with pytest.raises(rules.BadExpiry) as bad:
            rules.expiry(NOW, expires_at, ttl)
        assert bad.value.field == field


def test_a_hold_is_open_until_its_expiry_and_reads_expired_after() -> None:
    later = NOW + timedelta(minutes=15)
    assert rules.is_open(rules.ACTIVE, later, NOW) and not rules.is_open(rules.ACTIVE, later, later)
    assert rules.status_at(rules.ACTIVE, later, later) == rules.EXPIRED
    assert rules.status_at(rules.RELEASED, later, later) == rules.RELEASED
    assert not rules.is_open(rules.RELEASED, later, NOW)


def test_fees_take_from_the_hold_first_and_never_more_than_it_holds() -> None:
    assert rules.split(D(3), D(10)) == rules.Split(D(3), D(0))
    assert rules.split(D(12), D(10)) == rules.Split(D(10), D(2))
    assert rules.split(D("0.000000001"), D(0)) == rules.Split(D(0), D("0.000000001"))
    assert rules.left(D(5), D(7)) == D(0) and rules.left(D(5.5), D(2)) == D("3.5")


def test_what_is_missing_counts_the_overdraft_limit() -> None:
    assert rules.missing(D(10), D(4), D(0)) == D(6)
    assert rules.missing(D(10), D(4), D(6)) == D(0)
    assert rules.missing(D(10), D(-3), D(2)) == D(11)
    assert rules.missing(D(10), D(4), None) == D(6)  # no limit set: the balance alone covers a hold
