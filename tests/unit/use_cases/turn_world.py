"""A world of in-memory turn fakes, and a scripted LLM, shared by the turn use-case tests."""

from __future__ import annotations

from uuid import UUID

from adapters.memory.stops import MemoryStopStore
from adapters.memory.turns import (
    MemoryHistoryStore,
    MemoryStepRecorder,
    MemorySummaryStore,
    MemoryTurnEventStore,
    MemoryTurnStore,
    SequentialTurnRunner,
)
from adapters.polling_stops import PollingStopWatch
from application.events import EventLog
from application.patience import Patience
from application.ports.llm import LlmAttempt, LlmRequest, LlmResult
from application.ports.turns import TurnContext
from application.steps import TurnRun
from application.use_cases.execute_step import ExecuteStep
from application.use_cases.recover_turns import RecoverTurns
from application.use_cases.remember_session import RememberSession
from application.use_cases.run_turn import RunTurn
from application.use_cases.send_message import SendMessage
from domain.model import Mode
from domain.turns import StepError, TokenUsage, TurnStep
from tests.unit.use_cases.conftest import World


class ScriptedLlm:
    """Answers `<agent> says: <n>` with fixed usage; agents listed in `failing` fail with one error attempt."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.calls: list[LlmRequest] = []

    async def stream(self, request: LlmRequest, on_delta=None, observer=None, cancel=None) -> LlmResult:
        result = await self._answer(request)
        if observer is not None:
            await observer.attempt_started(request.first_call_id)
            await observer.attempt_finished(result.attempts[0])
        return result

    async def _answer(self, request: LlmRequest) -> LlmResult:
        self.calls.append(request)
        who = request.messages[0].content.split(" ")[2]  # "You are <Name> (@key). ..."
        usage = TokenUsage(input_tokens=1000, cached_input_tokens=200, output_tokens=300)
        if who in self.failing:
            attempt = LlmAttempt(
                call_id=request.first_call_id,
                status="error",
                usage=TokenUsage(),
                latency_ms=5,
                error=StepError(code="provider_error", detail="boom"),
            )
            return LlmResult(text="", attempts=[attempt], error=attempt.error)
        attempt = LlmAttempt(
            call_id=request.first_call_id, status="success", usage=usage, latency_ms=7, request_id="req-1"
        )
        return LlmResult(text=f"{who} says: {len(self.calls)}", attempts=[attempt])


class TurnWorld(World):
    def __init__(self) -> None:
        super().__init__()
        self.data = self.db  # the turn fakes keep their rows beside the others
        self.turns = MemoryTurnStore(self.db)
        self.history = MemoryHistoryStore(self.db)
        self.recorder = MemoryStepRecorder(self.db)
        self.events = MemoryTurnEventStore(self.db)
        self.summaries = MemorySummaryStore(self.db)
        self.summary_model = "sim"
        self.llm = ScriptedLlm()
        self.patience = Patience(0)
        self.stop_store = MemoryStopStore(self.db)
        self.watch = PollingStopWatch(self.stop_store, interval_s=0.01)

    def executor(self) -> ExecuteStep:
        return ExecuteStep(self.llm, self.catalog, self.pricing, self.recorder, self.clock, self.ids, self.patience)

    def memory(self) -> RememberSession:
        return RememberSession(
            self.llm,
            self.catalog,
            self.pricing,
            self.history,
            self.summaries,
            self.recorder,
            self.clock,
            self.ids,
            self.patience,
            summary_model=self.summary_model,
        )

    async def run_step(self, context: TurnContext, index: int) -> TurnStep:
        """One step run on its own, as a process that dies right after it would have run it."""
        run = TurnRun(context=context, events=EventLog(context, self.events, self.clock, 1))
        return await self.executor().execute(run, context.plan[index], [])

    def run_turn(self) -> RunTurn:
        return RunTurn(
            self.turns,
            SequentialTurnRunner(),
            self.executor(),
            self.memory(),
            self.events,
            self.recorder,
            self.pricing,
            self.patience,
            self.clock,
            self.ids,
            self.watch,
        )

    async def resume(self, context: TurnContext) -> None:
        await self.run_turn().execute(context, resume=True)

    def recovery(self) -> RecoverTurns:
        return RecoverTurns(self.turns, self.run_turn(), self.clock, stale_after_s=30, abandon_after_s=3600)

    def send(self, run: RunTurn | None = None) -> SendMessage:
        return SendMessage(self.turns, self.pricing, self.catalog, run or self.run_turn(), self.clock, self.ids)

    async def room_with(self, *keys: str, mode: Mode = Mode.MANUAL) -> tuple[UUID, UUID, UUID]:
        user = await self.new_user_id()
        room = await self.new_room(user, mode=mode)
        for key in keys:
            await self.new_agent(user, room.id, key)
        session = await self.new_session(user, room.id)
        return user, room.id, session.id
