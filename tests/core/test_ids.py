"""Ids made by ``core.ids.new_id`` are valid TypeIDs of their prefix, time-ordered across milliseconds."""

from __future__ import annotations

import time

from typeid import TypeID

from drawdown.core import ids
from drawdown.core.ids import has_prefix, new_id

PREFIXES = [v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)]


def test_every_prefix_makes_a_typeid_that_parses_back() -> None:
    assert "fee" in PREFIXES and "txn" in PREFIXES
    for prefix in PREFIXES:
        value = new_id(prefix)
        parsed = TypeID.from_string(value)
        assert parsed.prefix == prefix and str(parsed) == value
        assert parsed.uuid.version == 7
        assert has_prefix(value, prefix)


def test_ids_are_distinct_and_ordered_by_time() -> None:
    first = [new_id("fee") for _ in range(2000)]
    assert len(set(first)) == 2000
    time.sleep(0.002)
    later = new_id("fee")
    assert all(later > earlier for earlier in first)
