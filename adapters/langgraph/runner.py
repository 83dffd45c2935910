"""Turn execution on LangGraph: one graph run per turn (thread id = turn id), one node per agent step,
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

from application.ports.turns import StepExecutor, TurnContext
from domain.turns import TurnStep

Durability = Literal["exit", "async", "sync"]


class TurnState(TypedDict):
    # Each node appends its committed step; later nodes read the earlier ones from here.
    steps: Annotated[list[dict[str, Any]], operator.add]


def _thread(turn_id: UUID) -> RunnableConfig:
    return {"configurable": {"thread_id": str(turn_id)}}


def _to_steps(state: dict[str, Any] | None) -> list[TurnStep]:
    return [msgspec.convert(s, TurnStep, strict=False) for s in (state or {}).get("steps", [])]


class LangGraphTurnRunner:
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
        self._graphs: dict[int, CompiledStateGraph] = {}
        # What a node needs but must not be checkpointed: the turn snapshot and the step executor.
        self._active: dict[str, tuple[TurnContext, StepExecutor]] = {}

    async def run(self, turn: TurnContext, execute_step: StepExecutor) -> list[TurnStep]:
        return await self._invoke(turn, execute_step, {"steps": []})

    async def resume(self, turn: TurnContext, execute_step: StepExecutor) -> list[TurnStep]:
        snapshot = await self._graph(len(turn.plan)).aget_state(_thread(turn.turn_id))
        if not snapshot.values:  # no checkpoint: run again from the start, committed steps are read back
            return await self._invoke(turn, execute_step, {"steps": []})
        if not snapshot.next:  # every node ran; only the turn's final mark was missing
            return _to_steps(snapshot.values)
        return await self._invoke(turn, execute_step, None)

    async def forget_finished(self) -> int:
        return await self._forget() if self._forget is not None else 0

    async def close(self) -> None:
        self._graphs.clear()

    async def _invoke(
        self, turn: TurnContext, execute_step: StepExecutor, state: dict[str, Any] | None
    ) -> list[TurnStep]:
        if not turn.plan:
            return []
        thread = str(turn.turn_id)
        self._active[thread] = (turn, execute_step)
        try:
            graph = self._graph(len(turn.plan))
            final = await graph.ainvoke(state, _thread(turn.turn_id), durability=self._durability)
        finally:
            del self._active[thread]
        return _to_steps(final)

    def _graph(self, steps: int) -> CompiledStateGraph:
        # Graphs differ only by their number of steps, so one compiled graph per length is reused.
        if steps not in self._graphs:
            builder = StateGraph(TurnState)
            previous = START
            for index in range(steps):
                name = f"step_{index}"
                builder.add_node(name, self._node(index))
                builder.add_edge(previous, name)
                previous = name
            builder.add_edge(previous, END)
            self._graphs[steps] = builder.compile(checkpointer=self._checkpointer)
        return self._graphs[steps]

    def _node(self, index: int) -> Any:
        async def run_step(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
            turn, execute_step = self._active[config["configurable"]["thread_id"]]
            step = await execute_step(turn, turn.plan[index], _to_steps(dict(state)))
            return {"steps": [msgspec.to_builtins(step)]}

        run_step.__name__ = f"step_{index}"
        return run_step
