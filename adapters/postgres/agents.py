from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from domain.errors import AgentKeyTaken, too_many_agents
from domain.model import Agent

# Every read joins the owner's live room: tenancy and soft delete live in the SQL (invariant 5).
AGENT_COLUMNS = "a.id, a.room_id, a.agent_key, a.name, a.model_alias, a.role_prompt, a.position, a.created_at"
INSERT_AGENT = """
INSERT INTO agents (id, room_id, agent_key, name, model_alias, role_prompt, position, created_at)
VALUES (%(id)s, %(room_id)s, %(agent_key)s, %(name)s, %(model)s, %(role_prompt)s, %(position)s, %(created_at)s)
"""
# COLLATE "C": ties on position order by key code point whatever the server locale (as the fake does).
SELECT_AGENTS_OF_ROOM = f"""
SELECT {AGENT_COLUMNS} FROM agents a JOIN rooms r ON r.id = a.room_id
WHERE a.room_id = %(room_id)s AND r.owner_id = %(owner_id)s AND r.deleted_at IS NULL
ORDER BY a.position, a.agent_key COLLATE "C"
"""
SELECT_AGENT = f"""
SELECT {AGENT_COLUMNS} FROM agents a JOIN rooms r ON r.id = a.room_id
WHERE a.id = %(agent_id)s AND a.room_id = %(room_id)s AND r.owner_id = %(owner_id)s AND r.deleted_at IS NULL
"""
LOCK_ROOM_OF_AGENTS = "SELECT id FROM rooms WHERE id = %(room_id)s FOR UPDATE"
COUNT_AGENTS = "SELECT count(*) AS agents FROM agents WHERE room_id = %(room_id)s"
UPDATE_AGENT = """
UPDATE agents SET name = %(name)s, model_alias = %(model)s, role_prompt = %(role_prompt)s, position = %(position)s
WHERE id = %(id)s AND room_id = %(room_id)s
"""
DELETE_AGENT = """
DELETE FROM agents a USING rooms r
WHERE a.id = %(agent_id)s AND a.room_id = %(room_id)s AND r.id = a.room_id
  AND r.owner_id = %(owner_id)s AND r.deleted_at IS NULL
"""


def to_agent(row: dict[str, Any]) -> Agent:
    return Agent(
        id=row["id"],
        room_id=row["room_id"],
        agent_key=row["agent_key"],
        name=row["name"],
        model=row["model_alias"],
        role_prompt=row["role_prompt"],
        position=row["position"],
        created_at=row["created_at"],
    )


def agent_params(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "room_id": agent.room_id,
        "agent_key": agent.agent_key,
        "name": agent.name,
        "model": agent.model,
        "role_prompt": agent.role_prompt,
        "position": agent.position,
        "created_at": agent.created_at,
    }


class PostgresAgentStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add_agent(self, agent: Agent, *, limit: int) -> None:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                # The room's row lock serialises concurrent adds, so the count below cannot be stale.
                await conn.execute(LOCK_ROOM_OF_AGENTS, {"room_id": agent.room_id})
                row = await (await conn.execute(COUNT_AGENTS, {"room_id": agent.room_id})).fetchone()
                if row and row["agents"] >= limit:
                    raise too_many_agents(limit)
                await conn.execute(INSERT_AGENT, agent_params(agent))
        except errors.UniqueViolation as exc:
            raise AgentKeyTaken(f"This room already has an agent with key {agent.agent_key!r}.") from exc

    async def agents_of(self, owner_id: UUID, room_id: UUID) -> list[Agent]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_AGENTS_OF_ROOM, {"owner_id": owner_id, "room_id": room_id})
            return [to_agent(r) for r in await cur.fetchall()]

    async def agent_of(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> Agent | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_AGENT, {"owner_id": owner_id, "room_id": room_id, "agent_id": agent_id})
            row = await cur.fetchone()
        return to_agent(row) if row else None

    async def save_agent(self, agent: Agent) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(UPDATE_AGENT, agent_params(agent))

    async def remove_agent(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(DELETE_AGENT, {"owner_id": owner_id, "room_id": room_id, "agent_id": agent_id})
            return cur.rowcount == 1
