"""The two floors a turn is compared with, measured in-process on the same PostgreSQL as the server.

- a bare LangGraph StateGraph of N sequential async nodes checkpointed by AsyncPostgresSaver;
- the raw SQL of one turn: one transaction inserting its turns row, N turn_steps and N llm_call_events rows.
"""

from __future__ import annotations

import operator
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bench.cases import Case
from bench.stats import Sample

PRICING_VERSION = "2026-02-20"  # seeded by the migrations
# About the size of a `sim` answer, so the rows weigh what a real turn's rows weigh.
ANSWER = (
    "Ada here. On 'what should we do next', my view: start from the goal, list the constraints, "
    "pick the smallest step that tests the riskiest assumption, and report back. "
) * 2


def open_pool(database_url: str, *, max_size: int = 4) -> AsyncConnectionPool:
    """Opened as AsyncPostgresSaver needs (docs/design.md): autocommit, prepare_threshold=0, dict_row."""
    return AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        name="bench",
    )


# --- bare LangGraph ------------------------------------------------------------------------------------


class BareState(TypedDict):
    steps: Annotated[list[dict[str, Any]], operator.add]


def bare_graph(nodes: int, saver: AsyncPostgresSaver) -> Any:
    builder = StateGraph(BareState)
    previous = START
    for index in range(nodes):

        async def node(state: BareState, index: int = index) -> dict[str, Any]:
            return {"steps": [{"index": index, "agent_key": f"a{index}", "status": "completed", "content": "ok"}]}

        name = f"step_{index}"
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder.compile(checkpointer=saver)


def bare_case(pool: AsyncConnectionPool, nodes: int, *, durability: str | None, warmup: int, n: int) -> Case:
    graph = bare_graph(nodes, AsyncPostgresSaver(conn=pool))  # type: ignore[arg-type]
    extra = {} if durability is None else {"durability": durability}

    async def once() -> bool:
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}  # a new thread per invoke
        final = await graph.ainvoke({"steps": []}, config, **extra)
        return len(final["steps"]) == nodes

    mode = "default (async)" if durability is None else f'"{durability}"'
    label = f"bare LangGraph, {nodes} node{'s' * (nodes > 1)}, durability {mode}"
    return Case(Sample(label, note="new thread_id per invoke"), once, warmup, n)


# --- raw SQL floor -------------------------------------------------------------------------------------

INSERT_USER = "INSERT INTO users (id, email, display_name) VALUES (%(id)s, %(email)s, 'bench floor')"
INSERT_ROOM = """
INSERT INTO rooms (id, owner_id, name, current_mode, created_at, updated_at)
VALUES (%(id)s, %(user_id)s, 'bench floor', 'roundtable', %(now)s, %(now)s)
"""
INSERT_SESSION = """
INSERT INTO sessions (id, room_id, user_id, created_at) VALUES (%(id)s, %(room_id)s, %(user_id)s, %(now)s)
"""
INSERT_TURN = """
INSERT INTO turns (id, session_id, user_id, room_id, turn_index, mode, status, user_message, roster, plan,
                   pricing_version, created_at, heartbeat_at, completed_at)
VALUES (%(id)s, %(session_id)s, %(user_id)s, %(room_id)s, %(turn_index)s, 'roundtable', 'completed', %(message)s,
        %(roster)s::jsonb, %(plan)s::jsonb, %(pricing_version)s, %(now)s, %(now)s, %(now)s)
"""
INSERT_STEP = """
INSERT INTO turn_steps (id, turn_id, step_index, kind, agent_key, agent_name, model_alias, status, content,
                        input_tokens, cached_input_tokens, output_tokens, credits, created_at)
VALUES (%(id)s, %(turn_id)s, %(step_index)s, 'agent', %(agent_key)s, %(agent_name)s, 'sim', 'completed', %(content)s,
        %(input_tokens)s, 0, %(output_tokens)s, %(credits)s, %(now)s)
"""
INSERT_LEDGER = """
INSERT INTO llm_call_events (id, call_id, user_id, room_id, session_id, turn_id, step_index, agent_key, provider,
                             model_alias, provider_model, input_tokens_fresh, input_tokens_cached, output_tokens,
                             total_tokens, oe_tokens, multiplier, credits_burned, provider_cost_usd, latency_ms,
                             status, pricing_version, created_at)
VALUES (%(id)s, %(call_id)s, %(user_id)s, %(room_id)s, %(session_id)s, %(turn_id)s, %(step_index)s, %(agent_key)s,
        'simulated', 'sim', 'sim', %(input_tokens)s, 0, %(output_tokens)s, %(total_tokens)s, %(oe_tokens)s, 1.0,
        %(credits)s, 0, 0, 'success', %(pricing_version)s, %(now)s)
"""


def ledger_rows(scope: dict[str, Any], turn_id: uuid.UUID, steps: int, at: datetime) -> list[dict[str, Any]]:
    usage = {
        "input_tokens": 180,
        "output_tokens": 60,
        "total_tokens": 240,
        "oe_tokens": Decimal("123.0000"),
        "credits": Decimal("0.0123"),
        "pricing_version": PRICING_VERSION,
        "now": at,
    }
    return [
        scope
        | usage
        | {
            "turn_id": turn_id,
            "step_index": i,
            "agent_key": f"a{i}",
            "agent_name": f"A{i}",
            "content": ANSWER,
            "id": uuid.uuid4(),
            "call_id": uuid.uuid4(),
        }
        for i in range(steps)
    ]


async def sql_case(pool: AsyncConnectionPool, steps: int, *, warmup: int, n: int) -> Case:
    now = datetime.now(UTC)
    user_id, room_id, session_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(INSERT_USER, {"id": user_id, "email": f"floor-{user_id.hex[:12]}@example.com"})
        await conn.execute(INSERT_ROOM, {"id": room_id, "user_id": user_id, "now": now})
        await conn.execute(INSERT_SESSION, {"id": session_id, "room_id": room_id, "user_id": user_id, "now": now})
    roster = "[" + ",".join(f'{{"agent_key": "a{i}", "model": "sim", "position": {i}}}' for i in range(steps)) + "]"
    scope = {"user_id": user_id, "room_id": room_id, "session_id": session_id}
    turn_indexes = iter(range(warmup + n))

    async def once() -> bool:
        turn_id, at = uuid.uuid4(), datetime.now(UTC)
        turn = scope | {
            "id": turn_id,
            "turn_index": next(turn_indexes),
            "message": "what should we do next?",
            "roster": roster,
            "plan": roster,
            "pricing_version": PRICING_VERSION,
            "now": at,
        }
        rows = ledger_rows(scope, turn_id, steps, at)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(INSERT_TURN, turn)
            async with conn.cursor() as cur:
                await cur.executemany(INSERT_STEP, rows)
                await cur.executemany(INSERT_LEDGER, [r | {"id": r["call_id"]} for r in rows])
        return True

    label = f"raw SQL floor, {steps} step{'s' * (steps > 1)}"
    return Case(Sample(label, note=f"1 tx: turns + {steps} turn_steps + {steps} llm_call_events"), once, warmup, n)
