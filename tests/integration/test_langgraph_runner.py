"""The TurnRunner port: its contract run against the in-memory runner and LangGraph alike (order,
earlier answers, a resume without checkpoint), then what only LangGraph on a real AsyncPostgresSaver
does (resume from checkpoints, forgetting finished turns)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from adapters.langgraph.runner import LangGraphTurnRunner
from adapters.memory.turns import SequentialTurnRunner
from adapters.postgres.checkpointer import prune_finished_threads
from application.ports.turns import TurnContext, TurnRunner
from application.use_cases.run_turn import program
from domain.model import Mode
from domain.turns import PlannedStep, RosterEntry, StepKind, StepStatus, StepUsage, TurnStep
from tests.support.seed import insert_turn, seed_session

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def context(keys: list[str], turn_id: UUID | None = None) -> TurnContext:
    roster = [
        RosterEntry(agent_key=k, name=k.title(), model="sim", role_prompt="x", position=i) for i, k in enumerate(keys)
    ]
    return TurnContext(
        turn_id=turn_id or uuid4(),
        user_id=uuid4(),
        room_id=uuid4(),
        session_id=uuid4(),
        turn_index=0,
        mode=Mode.ROUNDTABLE,
        user_message="go",
        room_goal=None,
        roster=roster,
        plan=[PlannedStep(index=i, kind=StepKind.AGENT, agent=a) for i, a in enumerate(roster)],
        pricing_version="2026-02-20",
        created_at=NOW,
    )


class Crash(Exception):
    pass


class Recorder:
    """A step executor that remembers what it was asked, and can die at a given step."""

    def __init__(self, die_at: int | None = None) -> None:
        self.calls: list[tuple[int, list[str]]] = []
        self.die_at = die_at

    async def __call__(self, turn: TurnContext, planned: PlannedStep, earlier: list[TurnStep]) -> TurnStep:
        self.calls.append((planned.index, [s.content for s in earlier]))
        if planned.index == self.die_at:
            raise Crash
        return TurnStep(
            index=planned.index,
            kind=planned.kind,
            agent_key=planned.agent.agent_key,
            agent_name=planned.agent.name,
            model="sim",
            status=StepStatus.COMPLETED,
            content=f"answer {planned.index}",
            error=None,
            usage=StepUsage(credits=Decimal("0.0001")),
        )


@pytest.fixture
async def saver(pool) -> AsyncPostgresSaver:
    return AsyncPostgresSaver(conn=pool)


@pytest.fixture(params=["memory", "langgraph"])
def any_runner(request: pytest.FixtureRequest) -> TurnRunner:
    if request.param == "memory":
        return SequentialTurnRunner()
    return LangGraphTurnRunner(request.getfixturevalue("saver"), durability="exit")


async def test_steps_run_in_order_and_see_the_earlier_answers(any_runner: TurnRunner) -> None:
    executor = Recorder()
    steps = await any_runner.run(context(["ada", "bob", "cy"]), executor, program)
    assert [s.content for s in steps] == ["answer 0", "answer 1", "answer 2"]
    assert executor.calls == [(0, []), (1, ["answer 0"]), (2, ["answer 0", "answer 1"])]
    assert steps[0].usage.credits == Decimal("0.0001")


async def test_resume_from_a_per_step_checkpoint_skips_finished_nodes(saver) -> None:
    turn = context(["ada", "bob", "cy"])
    runner = LangGraphTurnRunner(saver, durability="sync")
    with pytest.raises(Crash):
        await runner.run(turn, Recorder(die_at=1), program)
    again = Recorder()
    steps = await runner.resume(turn, again, program)
    assert [i for i, _ in again.calls] == [1, 2]  # step 0 came from the checkpoint
    assert again.calls[0][1] == ["answer 0"]
    assert [s.index for s in steps] == [0, 1, 2]


async def test_exit_durability_still_checkpoints_a_run_that_failed(saver) -> None:
    turn = context(["ada", "bob"])
    runner = LangGraphTurnRunner(saver, durability="exit")
    with pytest.raises(Crash):
        await runner.run(turn, Recorder(die_at=1), program)
    again = Recorder()
    await runner.resume(turn, again, program)
    assert [i for i, _ in again.calls] == [1]


async def test_resume_without_any_checkpoint_runs_from_the_start(any_runner: TurnRunner) -> None:
    # A process killed before its run wrote anything: every node runs again, and ExecuteStep reads
    # the committed steps back from turn_steps instead of calling the model (use-case and e2e tiers).
    again = Recorder()
    steps = await any_runner.resume(context(["ada", "bob"]), again, program)
    assert [i for i, _ in again.calls] == [0, 1] and len(steps) == 2


async def test_the_runner_forgets_the_checkpoints_of_finished_turns(saver, pool, database_url: str) -> None:
    ids = seed_session(database_url)
    turn_ids = [insert_turn(database_url, ids, 0, "completed"), insert_turn(database_url, ids, 1, "running")]
    runner = LangGraphTurnRunner(saver, durability="sync", forget=functools.partial(prune_finished_threads, pool))
    for turn_id in turn_ids:
        await runner.run(context(["ada"], turn_id), Recorder(), program)
    foreign = context(["ada"])  # a thread that is not a Pantheon turn
    await runner.run(foreign, Recorder(), program)

    def threads() -> set[str]:
        with psycopg.connect(database_url) as conn:
            return {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}

    assert {str(t) for t in turn_ids} | {str(foreign.turn_id)} <= threads()
    assert await runner.forget_finished() >= 1
    left = threads()
    assert str(turn_ids[0]) not in left  # finished: pruned
    assert str(turn_ids[1]) in left and str(foreign.turn_id) in left
