"""Hypothesis stateful test of the wallet on a real database (both backends): random grants,
expiries, entitlement refreshes, usage and clock jumps; after every step the ledger invariants hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from drawdown.billing.job import run_due
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.errors import Invalid
from drawdown.core.money import from_scaled
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import read, write
from drawdown.db.tables import credit_grants, ledger_entries, transactions, wallet_accounts
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment, Charge
from drawdown.wallets.repository import balances

T0 = datetime(2026, 6, 1, tzinfo=UTC)
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)


def test_wallet_invariants_under_random_operations(engine) -> None:
    asset = "S" + uuid.uuid4().hex[:8].upper()
    with write(engine) as conn:
        usd = (StartingRate("USD", Decimal("0.01")),)
        catalog.create_asset(conn, DEFAULT_LIVE, NewAsset(code=asset, name="stateful", rates=usd), T0)

    class Wallet(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.now = T0
            code = uuid.uuid4().hex[:12]
            with write(engine) as conn:
                catalog.create_product(
                    conn,
                    DEFAULT_LIVE, NewProduct(
                        name="p",
                        code=code,
                        publish=True,
                        prices=[
                            {
                                "name": "use",
                                "type": "usage_based",
                                "billing_model": {"type": "real_time"},
                                "usage_calculation": {"event_type": "use", "usage_type": "volume", "volume_field": "n"},
                                "pricing": [{"asset": asset, "values": [{"volume_rate": Decimal(1)}]}],
                            }
                        ],
                        entitlements=[
                            {
                                "name": "daily",
                                "asset": asset,
                                "amount": Decimal(20),
                                "purpose": "promotion",
                                "lifecycle": {"duration": "day", "refresh": {"strategy": "expire_and_replace"}},
                            },
                            {
                                "name": "weekly",
                                "asset": asset,
                                "amount": Decimal(50),
                                "purpose": "bundled",
                                "lifecycle": {"duration": "week", "refresh": {"strategy": "rollover"}},
                            },
                        ],
                    ),
                    self.now,
                )
                self.customer = customers.create_customer(
                    conn,
                    DEFAULT_LIVE,
                    NewCustomer(name="s", subscriptions=(NewSubscription((ProductRef(code=code),)),)),
                    self.now,
                    Decimal(0),
                ).id

        @rule(
            amount=amounts,
            effective=st.integers(-48, 72),
            lasts=st.one_of(st.none(), st.integers(1, 240)),
            reason=st.sampled_from(["gift", "external_topup"]),
        )
        def grant(self, amount, effective, lasts, reason) -> None:
            start = self.now + timedelta(hours=effective)
            expires = None if lasts is None else start + timedelta(hours=lasts)
            if expires is not None and expires <= self.now:
                return
            cmd = Adjustment(uuid.uuid4().hex, asset, amount, reason, effective_at=start, expires_at=expires)
            with write(engine) as conn:
                wallets.adjust(conn, DEFAULT_LIVE, self.customer, cmd, self.now, Decimal(0))

        @rule(amount=amounts)
        def use(self, amount) -> None:
            try:
                with write(engine) as conn:
                    wallets.charge(
                        conn, DEFAULT_LIVE, self.customer, Charge(uuid.uuid4().hex, asset, amount), self.now, Decimal(0)
                    )
            except Invalid:
                pass  # refused past the overdraft limit: nothing written

        @rule(hours=st.integers(1, 60))
        def wait(self, hours) -> None:
            self.now += timedelta(hours=hours)

        @rule()
        def job(self) -> None:
            run_due(engine, self.now, Decimal(0), "http://x", {self.customer})

        @invariant()
        def ledger_holds(self) -> None:
            if not hasattr(self, "customer"):
                return
            with read(engine) as conn:
                txn_ids = select(transactions.c.id).where(transactions.c.customer_id == self.customer)
                unbalanced = conn.execute(
                    select(ledger_entries.c.transaction_id)
                    .where(ledger_entries.c.transaction_id.in_(txn_ids))
                    .group_by(ledger_entries.c.transaction_id)
                    .having(func.sum(ledger_entries.c.amount) != 0)
                ).all()
                assert unbalanced == []
                account = conn.execute(
                    select(wallet_accounts).where(wallet_accounts.c.customer_id == self.customer)
                ).one()
                grants = conn.execute(select(credit_grants).where(credit_grants.c.account_id == account.id)).all()
                assert all(g.remaining >= 0 for g in grants)
                booked = conn.execute(
                    select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
                        ledger_entries.c.account == f"wallet:{account.id}"
                    )
                ).scalar_one()
                assert int(booked) == sum(g.remaining for g in grants) - account.debt
                # Balance = the live grants (as of now) less debt, whatever the job has recorded.
                live = sum(
                    g.remaining
                    for g in grants
                    if g.state != "expired"
                    and g.effective_at <= self.now
                    and (g.expires_at is None or self.now < g.expires_at)
                )
                assert balances(conn, account.id, self.now)["available"] == from_scaled(
                    live - account.debt - account.reserved
                )
                # Nothing was ever drawn from a grant that was not yet effective or already expired.
                draws = conn.execute(
                    select(ledger_entries.c.created_at, credit_grants.c.effective_at, credit_grants.c.expires_at)
                    .select_from(
                        ledger_entries.join(transactions, transactions.c.id == ledger_entries.c.transaction_id).join(
                            credit_grants, credit_grants.c.id == ledger_entries.c.grant_id
                        )
                    )
                    .where(
                        credit_grants.c.account_id == account.id,
                        ledger_entries.c.amount < 0,
                        transactions.c.type.in_(("charge", "fee")),
                    )
                ).all()
                for at, effective, expires in draws:
                    assert effective <= at and (expires is None or at < expires)

    run_state_machine_as_test(
        Wallet,
        settings=settings(
            max_examples=30, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
