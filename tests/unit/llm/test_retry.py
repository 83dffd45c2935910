"""The retry loop and its policy, without HTTP."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

from adapters.llm import codes
from adapters.llm.attempt import AttemptOutcome
from adapters.llm.retry import RetryPolicy, retry_after_s, run_with_retries
from domain.turns import StepError
from tests.unit.llm.helpers import FIRST_CALL_ID, SleepRecorder


def outcome(status: str = "success", *, reached: bool = True, retryable: bool = True, code: str = "x", after=None):
    error = None if status == "success" and reached else StepError(code=code, detail="d")
    return AttemptOutcome(
        status=status,  # type: ignore[arg-type]
        latency_ms=1,
        reached_provider=reached,
        text="answer" if error is None else "",
        error=error,
        retryable=retryable,
        retry_after_s=after,
    )


def scripted(*outcomes: AttemptOutcome):
    queue = list(outcomes)

    async def attempt() -> AttemptOutcome:
        return queue.pop(0)

    return attempt


async def run(*outcomes: AttemptOutcome, max_retries: int = 2, sleeps: SleepRecorder | None = None):
    ids = (f"id-{n}" for n in itertools.count(2))
    return await run_with_retries(
        scripted(*outcomes),
        first_call_id=FIRST_CALL_ID,
        policy=RetryPolicy(max_retries=max_retries),
        sleep=sleeps or SleepRecorder(),
        rand=lambda: 1.0,
        make_call_id=lambda: next(ids),
    )


async def test_unreachable_attempt_does_not_consume_the_first_call_id():
    result = await run(outcome("error", reached=False, code=codes.PROVIDER_UNREACHABLE), outcome())
    assert result.ok and [a.call_id for a in result.attempts] == [FIRST_CALL_ID]


async def test_each_reached_attempt_gets_a_fresh_id():
    result = await run(outcome("error"), outcome("timeout"), outcome())
    assert [a.call_id for a in result.attempts] == [FIRST_CALL_ID, "id-2", "id-3"]
    assert [a.status for a in result.attempts] == ["error", "timeout", "success"]


async def test_backoff_doubles_up_to_the_cap_and_retry_after_is_capped():
    sleeps = SleepRecorder()
    await run(*[outcome("error")] * 6, max_retries=5, sleeps=sleeps)
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 8.0]

    sleeps.delays.clear()
    await run(outcome("rate_limited", after=3600.0), outcome(), sleeps=sleeps)
    assert sleeps.delays == [60.0]


async def test_non_retryable_failure_stops_at_once():
    sleeps = SleepRecorder()
    result = await run(outcome("error", retryable=False, code=codes.PROVIDER_REJECTED), outcome(), sleeps=sleeps)
    assert result.error is not None and result.error.code == codes.PROVIDER_REJECTED
    assert len(result.attempts) == 1 and sleeps.delays == []


def test_retry_after_forms():
    now = datetime(2026, 2, 20, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after": "Fri, 20 Feb 2026 12:00:05 GMT"}, now) == 5.0
    assert retry_after_s({"retry-after": "Fri, 20 Feb 2026 11:00:00 GMT"}, now) == 0.0
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


class Observer:
    """Records the attempts it is told about; `can_retract` says whether streamed text can be taken back."""

    def __init__(self, can_retract: bool) -> None:
        self.can_retract = can_retract
        self.started: list[str] = []
        self.finished: list[str] = []
        self.retractions = 0

    async def attempt_started(self, call_id: str) -> None:
        self.started.append(call_id)

    async def attempt_finished(self, attempt) -> None:
        self.finished.append(attempt.status)

    async def retract_deltas(self) -> bool:
        self.retractions += 1
        return self.can_retract


def cut_after_text() -> AttemptOutcome:
    return AttemptOutcome(
        status="error",
        latency_ms=1,
        error=StepError(code=codes.PROVIDER_STREAM_INTERRUPTED, detail="cut"),
        retryable=True,
        delivered_text=True,
    )


async def observed(observer: Observer, *outcomes: AttemptOutcome):
    return await run_with_retries(
        scripted(*outcomes),
        first_call_id=FIRST_CALL_ID,
        policy=RetryPolicy(max_retries=2),
        sleep=SleepRecorder(),
        rand=lambda: 1.0,
        observer=observer,
    )


async def test_text_nobody_saw_is_taken_back_and_the_call_retried():
    observer = Observer(can_retract=True)
    result = await observed(observer, cut_after_text(), outcome())
    assert result.ok and [a.status for a in result.attempts] == ["error", "success"]
    assert observer.retractions == 1 and observer.finished == ["error", "success"]
    assert observer.started[0] == FIRST_CALL_ID and len(set(observer.started)) == 2


async def test_text_a_reader_may_have_seen_is_never_glued_to_a_retry():
    observer = Observer(can_retract=False)
    result = await observed(observer, cut_after_text(), outcome())
    assert not result.ok and [a.status for a in result.attempts] == ["error"]
    assert result.error.code == codes.PROVIDER_STREAM_INTERRUPTED


async def test_without_an_observer_streamed_text_is_not_retried():
    result = await run(cut_after_text(), outcome())
    assert not result.ok and len(result.attempts) == 1


class Cancel:
    """A `now` stop that comes while the loop waits for its retry."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


async def test_a_stop_during_the_wait_before_a_retry_sends_nothing_more():
    cancel = Cancel()

    async def slow_sleep(seconds: float) -> None:
        await asyncio.sleep(3600)  # a long Retry-After

    asyncio.get_running_loop().call_later(0.01, cancel.event.set)
    result = await asyncio.wait_for(
        run_with_retries(
            scripted(outcome("rate_limited", after=3600), outcome()),
            first_call_id=FIRST_CALL_ID,
            policy=RetryPolicy(max_retries=2),
            sleep=slow_sleep,
            rand=lambda: 1.0,
            cancel=cancel,
        ),
        5,
    )
    assert result.stopped and result.text == ""
    assert [a.status for a in result.attempts] == ["rate_limited"]  # the one that reached the provider


async def test_a_stop_before_the_first_attempt_sends_nothing():
    cancel = Cancel()
    cancel.event.set()
    result = await run_with_retries(
        scripted(outcome()),
        first_call_id=FIRST_CALL_ID,
        policy=RetryPolicy(),
        sleep=SleepRecorder(),
        rand=lambda: 1.0,
        cancel=cancel,
    )
    assert result.stopped and result.attempts == []
