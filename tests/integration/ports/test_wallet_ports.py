"""The shared suite of the wallet ports (WalletStore, AdminStore, and the wallet side of TurnStore's
allocation and StepRecorder's commit), run against the in-memory fakes and PostgreSQL alike."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest

from adapters.memory.stores import MemoryDatabase
from adapters.memory.turns import MemoryStepRecorder, MemoryTurnStore
from adapters.memory.wallet import MemoryAdminStore, MemoryWalletStore
from adapters.postgres.admin import PostgresAdminStore
from adapters.postgres.steps import PostgresStepRecorder
from adapters.postgres.turns import PostgresTurnStore
from adapters.postgres.wallet import PostgresWalletStore
from application.ports.admin import AdminStore, AuditNote, Grant
from application.ports.turns import StepRecorder, TurnContext, TurnStore
from application.ports.wallet import Reservation, TurnGate, WalletStore
from domain.errors import InsufficientCredits, RateLimited
from domain.model import User
from domain.turns import TurnStatus
from tests.integration.ports.test_stores import Stores, add_user, memory_stores_on, postgres_stores, tick
from tests.integration.ports.test_turn_ports import a_session, intent, row, step
from tests.support.turns import start_turn


@dataclass
class WalletPorts:
    stores: Stores
    turns: TurnStore
    recorder: StepRecorder
    wallet: WalletStore
    admin: AdminStore


@pytest.fixture(params=["memory", "postgres"])
def ports(request: pytest.FixtureRequest) -> WalletPorts:
    if request.param == "memory":
        db = MemoryDatabase()
        return WalletPorts(
            memory_stores_on(db),
            MemoryTurnStore(db),
            MemoryStepRecorder(db),
            MemoryWalletStore(db),
            MemoryAdminStore(db),
        )
    pool = request.getfixturevalue("pool")
    return WalletPorts(
        postgres_stores(pool),
        PostgresTurnStore(pool),
        PostgresStepRecorder(pool),
        PostgresWalletStore(pool),
        PostgresAdminStore(pool),
    )


def note(action: str = "grant", actor: uuid.UUID | None = None) -> AuditNote:
    return AuditNote(id=uuid.uuid4(), actor_id=actor, action=action, at=tick())


async def funded(ports: WalletPorts, amount: str) -> User:
    user = await add_user(ports.stores)
    grant = Grant(id=uuid.uuid4(), amount=Decimal(amount), reason="test", idempotency_key="fund", actor="test")
    assert await ports.admin.grant(user.id, grant, note()) is not None
    return user


async def funded_turn(ports: WalletPorts, amount: str, gate: TurnGate | None = None) -> tuple[User, TurnContext]:
    owner, _, session = await a_session(ports, "ada", "bob")  # type: ignore[arg-type]
    if Decimal(amount):
        grant = Grant(id=uuid.uuid4(), amount=Decimal(amount), reason="test", idempotency_key="fund", actor="test")
        await ports.admin.grant(owner.id, grant, note())
    context = await start_turn(ports.turns, owner.id, session, now=tick())
    return owner, context


def held(turn: TurnContext, index: int, amount: str, call_id: uuid.UUID | None = None) -> Reservation:
    return Reservation(
        call_id=call_id or uuid.uuid4(),
        user_id=turn.user_id,
        turn_id=turn.turn_id,
        step_index=index,
        amount=Decimal(amount),
        at=tick(),
    )


async def test_a_reservation_holds_what_is_available_and_no_more(ports: WalletPorts) -> None:
    owner, turn = await funded_turn(ports, "1")
    first = held(turn, 0, "0.6")
    assert await ports.wallet.reserve(first)
    assert await ports.wallet.reserve(first)  # the same call_id holds once
    assert not await ports.wallet.reserve(held(turn, 0, "0.5"))  # 0.4 left
    assert await ports.wallet.reserve(held(turn, 0, "0.4"))
    credits = await ports.wallet.credits_of(owner.id, tick())
    assert (credits.balance, credits.reserved, credits.available) == (Decimal(1), Decimal("1.0"), Decimal(0))


async def test_the_step_commit_debits_its_rows_and_releases_its_reservations(ports: WalletPorts) -> None:
    owner, turn = await funded_turn(ports, "1")
    other = held(turn, 1, "0.3")
    assert await ports.wallet.reserve(held(turn, 0, "0.5")) and await ports.wallet.reserve(other)
    rows = [row(turn, 0), msgspec.structs.replace(row(turn, 0), credits_burned=Decimal(0), status="error")]
    assert await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), rows, tick())
    credits = await ports.wallet.credits_of(owner.id, tick())
    assert credits.balance == Decimal("0.9877") and credits.spent_this_month == Decimal("0.0123")
    assert credits.reserved == Decimal("0.3")  # step 1's reservation is still in flight
    txs = await ports.wallet.transactions_of(owner.id, limit=10, before=None)
    assert [(t.kind, t.amount, t.llm_call_event_id) for t in txs] == [
        ("debit", Decimal("-0.0123"), rows[0].id),  # none for the row that burned nothing
        ("grant", Decimal(1), None),
    ]
    # A step committed twice writes nothing, debits nothing.
    assert not await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [row(turn, 0)], tick())
    assert (await ports.wallet.credits_of(owner.id, tick())).balance == Decimal("0.9877")


async def test_the_gate_refuses_past_the_running_limit_or_the_wallet_and_writes_nothing(ports: WalletPorts) -> None:
    owner, _, session = await a_session(ports, "ada")  # type: ignore[arg-type]
    _, _, other_session = await a_session(ports, "ada")  # type: ignore[arg-type]
    with pytest.raises(InsufficientCredits):  # no credits at all
        await gated_turn(ports, owner, session, TurnGate(max_running=4, hold=Decimal("0.2")))
    await ports.admin.grant(
        owner.id, Grant(id=uuid.uuid4(), amount=Decimal("0.5"), reason="r", idempotency_key="k", actor="a"), note()
    )
    turn = await gated_turn(ports, owner, session, TurnGate(max_running=1, hold=Decimal("0.2")))
    assert (await ports.wallet.credits_of(owner.id, tick())).reserved == Decimal("0.2")
    # A second session of someone else is not limited by this user's turns; this user's second is.
    own_second = await a_session_of(ports, owner)
    with pytest.raises(RateLimited) as limited:
        await gated_turn(ports, owner, own_second, TurnGate(max_running=1, hold=Decimal("0.2")))
    assert limited.value.extra == {"limit": 1}
    with pytest.raises(InsufficientCredits):
        await gated_turn(ports, owner, own_second, TurnGate(max_running=2, hold=Decimal("0.31")))
    assert (await ports.turns.turn_start(owner.id, own_second)).next_index == 0  # type: ignore[union-attr]
    assert (await ports.wallet.credits_of(owner.id, tick())).reserved == Decimal("0.2")
    # The opening hold stays held beside the attempts' own reservations (until the first step commits).
    assert not await ports.wallet.reserve(held(turn, 0, "0.31"))
    assert await ports.wallet.reserve(held(turn, 0, "0.3"))
    assert (await ports.wallet.credits_of(owner.id, tick())).reserved == Decimal("0.5")
    assert await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [], tick())
    assert (await ports.wallet.credits_of(owner.id, tick())).reserved == 0
    assert other_session != session


async def a_session_of(ports: WalletPorts, owner: User) -> uuid.UUID:
    from tests.integration.ports.test_stores import add_agent, add_room, add_session

    room = await add_room(ports.stores, owner)
    await add_agent(ports.stores, room, "ada", 0)
    return (await add_session(ports.stores, room)).id


async def gated_turn(ports: WalletPorts, owner: User, session: uuid.UUID, gate: TurnGate) -> TurnContext:
    start = await ports.turns.turn_start(owner.id, session)
    assert start is not None
    context = TurnContext(
        turn_id=uuid.uuid4(),
        user_id=owner.id,
        room_id=start.room_id,
        session_id=session,
        turn_index=start.next_index,
        mode=start.current_mode,
        user_message="@ada go",
        room_goal=None,
        roster=start.roster,
        plan=[],
        pricing_version="2026-02-20",
        created_at=tick(),
    )
    await ports.turns.allocate(context, applied_pending=None, idempotency_key=None, request_hash="h", gate=gate)
    return context


async def test_the_sweep_releases_what_dead_or_finished_turns_still_hold(ports: WalletPorts) -> None:
    owner, live = await funded_turn(ports, "2")
    _, dead = await funded_turn(ports, "0")  # another user's turn, its process gone
    await ports.admin.grant(
        dead.user_id, Grant(id=uuid.uuid4(), amount=Decimal(1), reason="r", idempotency_key="k2", actor="a"), note()
    )
    await ports.turns.heartbeat([live.turn_id], tick() + timedelta(hours=1))
    assert await ports.wallet.reserve(held(live, 0, "0.5"))
    assert await ports.wallet.reserve(held(dead, 0, "0.7"))
    assert await ports.wallet.sweep(tick() + timedelta(minutes=30)) >= 1  # (other tests leave some too)
    assert (await ports.wallet.credits_of(dead.user_id, tick())).reserved == 0
    assert (await ports.wallet.credits_of(owner.id, tick())).reserved == Decimal("0.5")
    await ports.turns.finish_turn(live.turn_id, TurnStatus.COMPLETED, tick() + timedelta(hours=1), None)
    assert await ports.wallet.sweep(tick()) >= 1
    assert (await ports.wallet.credits_of(owner.id, tick())).reserved == 0


async def test_cancelled_calls_are_settled_with_every_reservation_of_the_turn(ports: WalletPorts) -> None:
    owner, turn = await funded_turn(ports, "1")
    cut = intent(turn, 0)
    assert await ports.wallet.reserve(held(turn, 0, "0.4", cut.call_id))
    await ports.recorder.record_intent(cut)
    failed = msgspec.structs.replace(row(turn, 0, call_id=cut.call_id), status="error")
    await ports.recorder.cancel_intents(turn.turn_id, [failed])
    credits = await ports.wallet.credits_of(owner.id, tick())
    assert (credits.balance, credits.reserved) == (Decimal("0.9877"), 0)


async def test_grants_credit_once_per_key_and_caps_bound_what_is_available(ports: WalletPorts) -> None:
    owner, turn = await funded_turn(ports, "5")
    again = Grant(id=uuid.uuid4(), amount=Decimal("9"), reason="other", idempotency_key="fund", actor="test")
    tx, created = await ports.admin.grant(owner.id, again, note())  # type: ignore[misc]
    assert not created and tx.amount == Decimal(5) and tx.reason == "test"
    assert (await ports.wallet.credits_of(owner.id, tick())).balance == Decimal(5)
    assert await ports.admin.grant(uuid.uuid4(), again, note()) is None
    capped = await ports.admin.set_cap(owner.id, Decimal("0.5"), note("set_cap"))
    assert capped is not None and capped.credits.available == Decimal("0.5")
    assert not await ports.wallet.reserve(held(turn, 0, "0.6"))
    assert await ports.wallet.reserve(held(turn, 0, "0.5"))
    audit = await ports.admin.audit_log(limit=10, before=None)
    mine = [(e.action, e.before, e.after) for e in audit if e.target_user_id == owner.id]
    assert mine[0] == (
        "set_cap",
        {"role": "user", "suspended": False, "monthly_cap": None, "balance": "5.0000"},
        {"role": "user", "suspended": False, "monthly_cap": "0.5000", "balance": "5.0000"},
    )
    assert [a for a, _, _ in mine] == ["set_cap", "grant"]


async def test_promote_creates_or_promotes_with_a_new_key_and_an_audit_row(ports: WalletPorts) -> None:
    existing = await add_user(ports.stores)
    key_hash = b"k" * 32
    promoted = User(id=uuid.uuid4(), email=existing.email.upper(), display_name=None, created_at=tick(), role="admin")
    assert not await ports.admin.promote(promoted, key_hash, Decimal(100), note("admin_create"))
    found = await ports.stores.users.user_for_key(key_hash)
    assert found is not None and (found.id, found.role) == (existing.id, "admin")
    fresh = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex}@example.com", display_name=None, created_at=tick())
    assert await ports.admin.promote(fresh, b"f" * 32, Decimal(7), note("admin_create"))
    made = await ports.stores.users.user_for_key(b"f" * 32)
    assert made is not None and (made.id, made.role) == (fresh.id, "admin")
    assert (await ports.wallet.credits_of(fresh.id, tick())).balance == Decimal(7)
    audit = {e.target_user_id: e for e in await ports.admin.audit_log(limit=50, before=None)}
    assert audit[existing.id].before is not None and audit[existing.id].before["role"] == "user"
    assert audit[fresh.id].before is None and audit[fresh.id].after["role"] == "admin"  # type: ignore[index]


async def test_suspension_shows_on_the_key_and_in_the_account_list(ports: WalletPorts) -> None:
    key_hash = uuid.uuid4().bytes * 2
    user = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex}@example.com", display_name="S", created_at=tick())
    await ports.stores.users.create_user(user, key_hash, Decimal(3))
    account = await ports.admin.set_suspended(user.id, True, note("suspend"))
    assert account is not None and account.suspended and account.credits.balance == Decimal(3)
    seen = await ports.stores.users.user_for_key(key_hash)
    assert seen is not None and seen.suspended
    listed = await ports.admin.accounts(limit=500, after=None, now=tick())
    assert next(a for a in listed if a.id == user.id).suspended
    assert await ports.admin.set_suspended(user.id, False, note("reactivate")) is not None
    again = await ports.stores.users.user_for_key(key_hash)
    assert again is not None and not again.suspended
    assert await ports.admin.set_suspended(uuid.uuid4(), True, note("suspend")) is None


async def test_usage_and_the_ledger_export_cover_a_range_of_days(ports: WalletPorts) -> None:
    owner, turn = await funded_turn(ports, "1")
    rows = [row(turn, 0, at=tick()), row(turn, 0, at=tick() + timedelta(days=2))]
    assert await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), rows, tick())
    first_day, last_day = rows[0].created_at.date(), rows[1].created_at.date()
    mine = [u for u in await ports.admin.usage(first_day, first_day, "user") if u.key == str(owner.id)]
    assert [(u.llm_calls, u.credits, u.margin_usd, u.active_users) for u in mine] == [
        (1, Decimal("0.0123"), Decimal("0.00036900"), 1)
    ]
    exported = [e.id async for e in ports.admin.ledger_rows(first_day, last_day) if e.user_id == owner.id]
    assert exported == [r.id for r in rows]
    later = [e.id async for e in ports.admin.ledger_rows(last_day, last_day) if e.user_id == owner.id]
    assert later == [rows[1].id]
