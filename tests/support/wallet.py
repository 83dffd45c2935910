"""What the wallet tables say about a user, read straight from PostgreSQL (invariant 8's checks)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import psycopg

WALLET_FIGURES = """
SELECT w.balance, w.reserved,
       (SELECT coalesce(sum(amount), 0) FROM credit_transactions t WHERE t.user_id = w.user_id) AS transactions,
       (SELECT coalesce(-sum(amount), 0) FROM credit_transactions t
         WHERE t.user_id = w.user_id AND t.kind = 'debit') AS debited,
       (SELECT coalesce(sum(credits_burned), 0) FROM llm_call_events e WHERE e.user_id = w.user_id) AS burned,
       (SELECT count(*) FROM credit_reservations r WHERE r.user_id = w.user_id) AS reservations,
       (SELECT coalesce(sum(amount), 0) FROM credit_reservations r WHERE r.user_id = w.user_id) AS held
FROM wallets w WHERE w.user_id = %s
"""
# Users whose debits differ from their ledger's credits, or whose balance is not the sum of their
# transactions, or whose `reserved` is not the sum of their reservations: must be none.
WALLETS_OUT_OF_LINE = """
SELECT w.user_id FROM wallets w
WHERE w.balance <> (SELECT coalesce(sum(amount), 0) FROM credit_transactions t WHERE t.user_id = w.user_id)
   OR (SELECT coalesce(-sum(amount), 0) FROM credit_transactions t WHERE t.user_id = w.user_id AND t.kind = 'debit')
      <> (SELECT coalesce(sum(credits_burned), 0) FROM llm_call_events e WHERE e.user_id = w.user_id)
   OR w.reserved <> (SELECT coalesce(sum(amount), 0) FROM credit_reservations r WHERE r.user_id = w.user_id)
"""


class WalletFigures(msgspec.Struct, frozen=True, kw_only=True):
    balance: Decimal
    reserved: Decimal
    transactions: Decimal  # Σ credit_transactions.amount
    debited: Decimal  # −Σ debits
    burned: Decimal  # Σ ledger credits_burned
    reservations: int
    held: Decimal


def wallet_figures(database_url: str, user_id: str) -> WalletFigures:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(WALLET_FIGURES, (user_id,))
        names = [c.name for c in cur.description or []]
        row = cur.fetchone()
    assert row is not None, "every user has a wallet"
    return WalletFigures(**dict(zip(names, row, strict=True)))


def wallets_out_of_line(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [str(r[0]) for r in conn.execute(WALLETS_OUT_OF_LINE).fetchall()]
