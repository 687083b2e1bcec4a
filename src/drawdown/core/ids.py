"""Prefixed identifiers: a prefix, an underscore and 26 lowercase Crockford base32 characters."""

from __future__ import annotations

from typeid import TypeID

CUSTOMER = "cust"
PRODUCT = "prp"
PRODUCT_VERSION = "prv"
PRICE = "prc"
SUBSCRIPTION = "sub"
FEE = "fee"
GRANT = "grt"
TRANSACTION = "txn"
API_KEY = "key"
ACCOUNT = "acc"
ORG = "org"


def new_id(prefix: str) -> str:
    return str(TypeID(prefix=prefix))


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
