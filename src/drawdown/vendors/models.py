"""What the vendors room is asked to do and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class NewVendor:
    name: str
    external_id: str | None = None


@dataclass(frozen=True)
class Vendor:
    id: str
    external_id: str | None
    name: str
    created_at: datetime


@dataclass(frozen=True)
class CategoryCost:
    category: str
    cost: Decimal


@dataclass(frozen=True)
class VendorCosts:
    """What a vendor cost over a period: the total and its split by category."""

    total: Decimal
    categories: tuple[CategoryCost, ...]
