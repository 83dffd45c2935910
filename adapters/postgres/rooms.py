from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from domain.model import Mode, Room

ROOM_COLUMNS = """id, owner_id, name, goal, current_mode, pending_mode, manager_model, created_at, updated_at,
    max_credits_per_turn, max_agent_calls_per_turn, max_turn_seconds"""
INSERT_ROOM = f"""
INSERT INTO rooms ({ROOM_COLUMNS})
VALUES (%(id)s, %(owner_id)s, %(name)s, %(goal)s, %(current_mode)s, %(pending_mode)s, %(manager_model)s,
        %(created_at)s, %(updated_at)s, %(max_credits_per_turn)s, %(max_agent_calls_per_turn)s,
        %(max_turn_seconds)s)
"""
SELECT_ROOMS_OF_OWNER = f"""
SELECT {ROOM_COLUMNS} FROM rooms
WHERE owner_id = %(owner_id)s AND deleted_at IS NULL
  AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_at)s, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""
SELECT_ROOM = f"""
SELECT {ROOM_COLUMNS} FROM rooms
WHERE id = %(room_id)s AND owner_id = %(owner_id)s AND deleted_at IS NULL
"""
UPDATE_ROOM = """
UPDATE rooms SET name = %(name)s, goal = %(goal)s, manager_model = %(manager_model)s, updated_at = %(updated_at)s,
                 max_credits_per_turn = %(max_credits_per_turn)s,
                 max_agent_calls_per_turn = %(max_agent_calls_per_turn)s, max_turn_seconds = %(max_turn_seconds)s
WHERE id = %(id)s AND owner_id = %(owner_id)s AND deleted_at IS NULL
"""
LOCK_ROOM = SELECT_ROOM.rstrip() + "\nFOR UPDATE\n"
SET_PENDING_MODE = f"""
UPDATE rooms SET pending_mode = %(pending_mode)s, updated_at = %(at)s WHERE id = %(room_id)s
RETURNING {ROOM_COLUMNS}
"""
SOFT_DELETE_ROOM = """
UPDATE rooms SET deleted_at = %(at)s, updated_at = %(at)s
WHERE id = %(room_id)s AND owner_id = %(owner_id)s AND deleted_at IS NULL
"""


def after_key(after: tuple[datetime, UUID] | None) -> dict[str, Any]:
    """The keyset cursor (created_at, id) as query parameters."""
    return {"after_at": after[0] if after else None, "after_id": after[1] if after else None}


def to_room(row: dict[str, Any]) -> Room:
    pending = row["pending_mode"]
    return Room(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        goal=row["goal"],
        current_mode=Mode(row["current_mode"]),
        pending_mode=Mode(pending) if pending else None,
        manager_model=row["manager_model"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        max_credits_per_turn=row["max_credits_per_turn"],
        max_agent_calls_per_turn=row["max_agent_calls_per_turn"],
        max_turn_seconds=row["max_turn_seconds"],
    )


def room_params(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "owner_id": room.owner_id,
        "name": room.name,
        "goal": room.goal,
        "current_mode": room.current_mode.value,
        "pending_mode": room.pending_mode.value if room.pending_mode else None,
        "manager_model": room.manager_model,
        "created_at": room.created_at,
        "updated_at": room.updated_at,
        "max_credits_per_turn": room.max_credits_per_turn,
        "max_agent_calls_per_turn": room.max_agent_calls_per_turn,
        "max_turn_seconds": room.max_turn_seconds,
    }


class PostgresRoomStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def create_room(self, room: Room) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(INSERT_ROOM, room_params(room))

    async def rooms_of(self, owner_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None) -> list[Room]:
        params = {"owner_id": owner_id, "limit": limit, **after_key(after)}
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_ROOMS_OF_OWNER, params)
            return [to_room(r) for r in await cur.fetchall()]

    async def room_of(self, owner_id: UUID, room_id: UUID) -> Room | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_ROOM, {"owner_id": owner_id, "room_id": room_id})
            row = await cur.fetchone()
        return to_room(row) if row else None

    async def save_room(self, room: Room) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(UPDATE_ROOM, room_params(room))

    async def change_pending_mode(
        self, owner_id: UUID, room_id: UUID, decide: Callable[[Mode, Mode | None], Mode | None], at: datetime
    ) -> Room | None:
        async with self._pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(LOCK_ROOM, {"owner_id": owner_id, "room_id": room_id})).fetchone()
            if row is None:
                return None
            room = to_room(row)
            pending = decide(room.current_mode, room.pending_mode)
            cur = await conn.execute(
                SET_PENDING_MODE, {"room_id": room_id, "at": at, "pending_mode": pending.value if pending else None}
            )
            return to_room(await cur.fetchone())

    async def delete_room(self, owner_id: UUID, room_id: UUID, at: datetime) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SOFT_DELETE_ROOM, {"owner_id": owner_id, "room_id": room_id, "at": at})
            return cur.rowcount == 1
