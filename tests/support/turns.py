"""A turn started straight through the TurnStore port, as SendMessage starts one (without running it)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from application.ports.turns import TurnContext, TurnStore
from domain.modes import apply_pending
from domain.planning import plan_turn


async def start_turn(
    store: TurnStore,
    user_id: UUID,
    session_id: UUID,
    *,
    message: str = "go",
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> TurnContext:
    start = await store.turn_start(user_id, session_id)
    assert start is not None, "no such session"
    mode, _ = apply_pending(start.current_mode, start.pending_mode)
    context = TurnContext(
        turn_id=uuid4(),
        user_id=user_id,
        room_id=start.room_id,
        session_id=session_id,
        turn_index=start.next_index,
        mode=mode,
        user_message=message,
        room_goal=start.room_goal,
        roster=start.roster,
        plan=plan_turn(mode, start.roster, message),
        pricing_version="2026-02-20",
        created_at=now or datetime.now(UTC),
        caps=start.caps,
    )
    await store.allocate(
        context, applied_pending=start.pending_mode, idempotency_key=idempotency_key, request_hash=f"hash:{message}"
    )
    return context
