"""Turn execution on LangGraph: one graph run per turn (thread id = turn id), a node per kind of step,
with LangGraph's PostgreSQL checkpointer (AsyncPostgresSaver).

Durability: every step's output is committed to `turn_steps` together with its ledger rows, and a
node first reads its step back when a turn is resumed, so a resumed turn never calls a committed step
again whatever LangGraph's durability. The default `exit` therefore writes the graph's checkpoint once
per run instead of after every node; `async` or `sync` (PANTHEON_TURN_DURABILITY) add a checkpoint per
step, so a resumed run also restarts from LangGraph's own state. Checkpoints of finished turns are
pruned in batches off the request path (`prune_finished_threads`).
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypedDict
from uuid import UUID

import msgspec
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from application.ports.turns import NextStep, StepExecutor, TurnContext
from domain.turns import StepKind, TurnStep

Durability = Literal["exit", "async", "sync"]
# LangGraph stops a run after this many supersteps (one per step here): far above the longest turn, an
# orchestrated one (2 x 12 agent runs + 2) or a full roundtable.
RECURSION_LIMIT = 200


class TurnState(TypedDict):
    # Each node appends its committed step; later nodes read the earlier ones from here.
    steps: Annotated[list[dict[str, Any]], operator.add]


def _thread(turn_id: UUID) -> RunnableConfig:
    return {"configurable": {"thread_id": str(turn_id)}}


def _to_steps(state: dict[str, Any] | None) -> list[TurnStep]:
    return [msgspec.convert(s, TurnStep, strict=False) for s in (state or {}).get("steps", [])]


class LangGraphTurnRunner:
    """One graph for every mode: a node per kind of step (agent, manager, synthesis) and, after START and
    after every node, a conditional edge asking the domain's `next_step` which kind comes next (or END).
    A roundtable runs agent → agent → … → END; an orchestrated turn manager ⇄ agent → synthesis → END."""

    def __init__(
        self,
        checkpointer: BaseCheckpointSaver,
        *,
        durability: Durability = "exit",
        forget: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        """`forget` deletes the checkpoints of finished turns (adapters/postgres/checkpointer.py)."""
        self._checkpointer = checkpointer
        self._durability: Durability = durability
        self._forget = forget
        self._compiled: CompiledStateGraph | None = None
        # What a node needs but must not be checkpointed: the turn snapshot, its executor and its program.
        self._active: dict[str, tuple[TurnContext, StepExecutor, NextStep]] = {}

    async def run(self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep) -> list[TurnStep]:
        return await self._invoke(turn, execute_step, next_step, {"steps": []})

    async def resume(self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep) -> list[TurnStep]:
        snapshot = await self._graph().aget_state(_thread(turn.turn_id))
        if not snapshot.values:  # no checkpoint: run again from the start, committed steps are read back
            return await self._invoke(turn, execute_step, next_step, {"steps": []})
        if not snapshot.next:  # every node ran; only the turn's final mark was missing
            return _to_steps(snapshot.values)
        return await self._invoke(turn, execute_step, next_step, None)

    async def forget_finished(self) -> int:
        return await self._forget() if self._forget is not None else 0

    async def close(self) -> None:
        self._compiled = None

    async def _invoke(
        self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep, state: dict[str, Any] | None
    ) -> list[TurnStep]:
        if state is not None and next_step(turn, []) is None:
            return []
        thread = str(turn.turn_id)
        self._active[thread] = (turn, execute_step, next_step)
        config: RunnableConfig = {**_thread(turn.turn_id), "recursion_limit": RECURSION_LIMIT}
        try:
            final = await self._graph().ainvoke(state, config, durability=self._durability)
        finally:
            del self._active[thread]
        return _to_steps(final)

    def _graph(self) -> CompiledStateGraph:
        if self._compiled is None:
            builder = StateGraph(TurnState)
            for kind in StepKind:
                builder.add_node(kind.value, self._run_step)
            routes = {**{kind.value: kind.value for kind in StepKind}, END: END}
            builder.add_conditional_edges(START, self._route, routes)
            for kind in StepKind:
                builder.add_conditional_edges(kind.value, self._route, routes)
            self._compiled = builder.compile(checkpointer=self._checkpointer)
        return self._compiled

    def _route(self, state: TurnState, config: RunnableConfig) -> str:
        turn, _, next_step = self._active[config["configurable"]["thread_id"]]
        planned = next_step(turn, _to_steps(dict(state)))
        return END if planned is None else planned.kind.value

    async def _run_step(self, state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        turn, execute_step, next_step = self._active[config["configurable"]["thread_id"]]
        earlier = _to_steps(dict(state))
        planned = next_step(turn, earlier)
        assert planned is not None, "a node runs only when a step comes next"
        step = await execute_step(turn, planned, earlier)
        # A step not started (the credit cap refused its call) adds nothing; the route asks the program again.
        return {"steps": [msgspec.to_builtins(step)] if step is not None else []}
