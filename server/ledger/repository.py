"""The ledger's SQL: posting a balanced entry once, and the checks ``edustream ledger check`` runs.

An entry is posted with its lines in the caller's transaction; the database refuses, at
commit, an entry whose lines do not sum to zero per currency (migration 0014's deferred
constraint trigger). ``key`` is unique, so a webhook replay or a task retry that posts the
same movement again is a no-op.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from models.ledger import Account, EntryKind
from server.db import Session


@dataclass(frozen=True, slots=True)
class Line:
    account: Account
    amount: int  # debit > 0, credit < 0
    tutor_id: uuid.UUID | None = None


async def post(session: Session, key: str, kind: EntryKind, currency: str, lines: Sequence[Line], *,
               booking_id: uuid.UUID | None = None, tutor_id: uuid.UUID | None = None,
               stripe_id: str | None = None, data: dict[str, Any] | None = None) -> bool:
    """Post one entry (zero-amount lines are left out); False when ``key`` was posted before
    or nothing moved. Raises nothing for an unbalanced entry here: the commit fails."""
    legs = [line for line in lines if line.amount]
    if not legs:
        return False
    entry = await session.execute(
        text("INSERT INTO ledger_entries (key, kind, booking_id, tutor_id, stripe_id, data) "
             "VALUES (:key, :kind, :booking, :tutor, :stripe, CAST(:data AS jsonb)) "
             "ON CONFLICT (key) DO NOTHING RETURNING id"),
        {"key": key, "kind": kind, "booking": booking_id, "tutor": tutor_id, "stripe": stripe_id,
         "data": json.dumps(data or {})})
    entry_id = entry.scalar()
    if entry_id is None:
        return False
    await session.execute(
        text("INSERT INTO ledger_lines (entry_id, account, tutor_id, currency, amount) "
             "SELECT :entry, l.account, l.tutor_id, :currency, l.amount "
             "FROM jsonb_to_recordset(CAST(:lines AS jsonb)) AS l(account text, tutor_id uuid, amount bigint)"),
        {"entry": entry_id, "currency": currency.upper(),
         "lines": json.dumps([{"account": leg.account, "tutor_id": str(leg.tutor_id) if leg.tutor_id else None,
                               "amount": leg.amount} for leg in legs])})
    return True


async def has_entry(session: Session, key: str) -> bool:
    return (await session.execute(text("SELECT 1 FROM ledger_entries WHERE key = :k"), {"k": key})).first() is not None


async def unbalanced_entries(session: Session) -> list[dict[str, Any]]:
    """Entries whose lines do not sum to zero in some currency, or that have fewer than two
    lines (the trigger makes these impossible; the check proves it on the live data)."""
    rows = await session.execute(text(
        "SELECT e.id, e.key, l.currency, coalesce(sum(l.amount), 0) AS total, count(l.id) AS lines "
        "FROM ledger_entries e LEFT JOIN ledger_lines l ON l.entry_id = e.id "
        "GROUP BY e.id, e.key, l.currency HAVING coalesce(sum(l.amount), 0) <> 0 OR count(l.id) < 2"))
    return [dict(r._mapping) for r in rows]


async def booking_balances(session: Session) -> dict[uuid.UUID, dict[str, int]]:
    """Per booking, the sum of its lines on each account (tutor accounts folded together by kind)."""
    rows = await session.execute(text(
        "SELECT e.booking_id, l.account, sum(l.amount) AS total FROM ledger_entries e "
        "JOIN ledger_lines l ON l.entry_id = e.id WHERE e.booking_id IS NOT NULL GROUP BY e.booking_id, l.account"))
    out: dict[uuid.UUID, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row.booking_id, {})[row.account] = int(row.total)
    return out


async def entries_of(session: Session, booking_id: uuid.UUID) -> list[dict[str, Any]]:
    """A booking's entries (kind, Stripe id, amount on each account), oldest first."""
    rows = await session.execute(text(
        "SELECT e.kind, e.stripe_id, l.account, l.amount FROM ledger_entries e "
        "JOIN ledger_lines l ON l.entry_id = e.id WHERE e.booking_id = :b ORDER BY e.id, l.id"), {"b": booking_id})
    return [dict(r._mapping) for r in rows]


async def account_totals(session: Session, tutor_id: uuid.UUID | None = None) -> dict[tuple[str, str], int]:
    """Balances per (account, currency), for one tutor's accounts or the platform's."""
    where = "l.tutor_id = :t" if tutor_id else "l.tutor_id IS NULL"
    rows = await session.execute(text(
        f"SELECT l.account, l.currency, sum(l.amount) AS total FROM ledger_lines l WHERE {where} "
        "GROUP BY l.account, l.currency"), {"t": tutor_id})
    return {(r.account, r.currency): int(r.total) for r in rows}


async def payout_entries(session: Session) -> dict[str, dict[str, int]]:
    """Per Stripe payout id, the amount its ``payout`` and ``payout_failed`` entries moved to the
    tutor's bank (the ``tutor_bank`` line)."""
    rows = await session.execute(text(
        "SELECT e.stripe_id, e.kind, sum(l.amount) AS total FROM ledger_entries e "
        "JOIN ledger_lines l ON l.entry_id = e.id AND l.account = 'tutor_bank' "
        "WHERE e.kind IN ('payout', 'payout_failed') GROUP BY e.stripe_id, e.kind"))
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row.stripe_id, {})[row.kind] = int(row.total)
    return out
