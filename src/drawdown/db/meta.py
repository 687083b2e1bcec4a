"""What every table module shares: one MetaData (with the constraint naming convention), the id type,
and the scope column."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(64)


def scope_column() -> Column[int]:
    """The (account, environment) a row belongs to (``scopes.id``). Every read and write of a scoped
    table is filtered by it; rows of other tables hang off a scoped parent (a customer, a product).
    No default: an insert that forgets its scope fails instead of landing in someone else's."""
    return Column("scope_id", Integer, nullable=False)
