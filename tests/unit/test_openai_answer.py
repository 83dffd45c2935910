"""The streamed answer of the OpenAI-compatible entrypoint says, piece by piece, what the finished
turn's transcript says whole (entrypoints/http/openai_compat/answer.py)."""

from __future__ import annotations

import json
from uuid import uuid4

from application.ports.events import TurnEvent
from domain.transcript import transcript
from domain.turns import StepError, StepKind, StepStatus, StepUsage, TurnStep
from entrypoints.http.openai_compat.answer import AnswerText, chunks
from entrypoints.http.openai_compat.wire import ChatMessage, ContentPart, conversation_of


def event(type_: str, **data) -> TurnEvent:
    return TurnEvent(seq=0, type=type_, data={"turn_id": "t", "seq": 0, **data})  # type: ignore[arg-type]


def run_of(step: TurnStep, deltas: list[str]) -> list[TurnEvent]:
    started = event(
        "step_started", index=step.index, kind=step.kind.value, agent_key=step.agent_key, agent_name=step.agent_name
    )
    error = {"code": step.error.code, "detail": step.error.detail} if step.error else None
    completed = event("step_completed", index=step.index, status=step.status.value, content=step.content, error=error)
    return [started, *(event("step_delta", index=step.index, text=d) for d in deltas), completed]


def agent(index: int, key: str | None, content: str, kind=StepKind.AGENT, failed: bool = False) -> TurnStep:
    return TurnStep(
        index=index,
        kind=kind,
        agent_key=key,
        agent_name=(key or "manager").title(),
        model="sim",
        status=StepStatus.FAILED if failed else StepStatus.COMPLETED,
        content=content,
        error=StepError(code="simulated_failure", detail="no") if failed else None,
        usage=StepUsage(),
    )


def test_the_pieces_streamed_make_the_transcript() -> None:
    steps = [
        agent(0, None, "call ada", kind=StepKind.MANAGER),
        agent(1, "ada", "Ship it on Friday."),
        agent(2, "bob", "", failed=True),
        agent(3, "cy", "Agreed."),  # no deltas: a step read back after a restart comes whole
        agent(4, None, "We ship.", kind=StepKind.SYNTHESIS),
    ]
    deltas = {0: ["call ", "ada"], 1: ["Ship it ", "on Friday."], 4: ["We ", "ship."]}
    text = AnswerText()
    pieces = [text.add(e) for s in steps for e in run_of(s, deltas.get(s.index, []))]

    assert "".join(pieces) == transcript(steps)
    assert "call ada" not in "".join(pieces)  # the manager's routing is not part of the answer


async def test_a_turn_that_cannot_run_ends_the_stream_with_an_error() -> None:
    async def events():
        yield event("turn_started", turn_index=0, mode="roundtable")
        yield None  # quiet for a while
        yield event("turn_failed", error={"code": "internal_error", "detail": "boom"})

    out = [p async for p in chunks(events(), uuid4(), 0, "room-x", include_usage=True)]

    assert json.loads(out[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert out[1] is None  # a keep-alive
    assert json.loads(out[-1])["error"]["code"] == "internal_error" and "[DONE]" not in out


def test_the_conversation_of_a_request() -> None:
    messages = [
        ChatMessage(role="system", content="Be nice."),
        ChatMessage(role="user", content="refused"),  # never answered: not a turn
        ChatMessage(role="user", content=[ContentPart(type="text", text="Plan"), ContentPart(type="image_url")]),
        ChatMessage(role="assistant", content="A plan."),
        ChatMessage(role="user", content="Why?"),
        ChatMessage(role="assistant", content=""),  # an answer that failed on the client's side
        ChatMessage(role="user", content="Who?"),
    ]
    earlier, message = conversation_of(messages)
    assert [(e.user, e.assistant) for e in earlier] == [("Plan", "A plan.")]
    assert message == "Who?"
