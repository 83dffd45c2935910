"""A turn read as one chat message (domain/transcript.py)."""

from __future__ import annotations

from domain.transcript import heading, same_text, transcript
from domain.turns import StepError, StepKind, StepStatus, StepUsage, TurnStep


def step(index: int, key: str | None, name: str, content: str, *, kind: StepKind = StepKind.AGENT, error=None):
    return TurnStep(
        index=index,
        kind=kind,
        agent_key=key,
        agent_name=name,
        model="sim",
        status=StepStatus.FAILED if error else StepStatus.COMPLETED,
        content=content,
        error=error,
        usage=StepUsage(),
    )


def test_every_shown_step_is_introduced_by_its_speaker_in_order() -> None:
    steps = [
        step(2, None, "Manager", "We ship.", kind=StepKind.SYNTHESIS),
        step(0, None, "Manager", "call ada", kind=StepKind.MANAGER),
        step(1, "ada", "Ada", "Ship it."),
    ]
    assert transcript(steps) == "**Ada** (ada): Ship it.\n\n**Manager** (synthesis): We ship."


def test_a_failed_step_says_so_in_one_line() -> None:
    failed = step(0, "bob", "Bob", "", error=StepError(code="provider_error", detail="The provider\nbroke."))
    assert transcript([failed, step(1, "cy", "Cy", "Fine.")]) == (
        "**Bob** (bob): ⚠ this step failed (provider_error): The provider broke.\n\n**Cy** (cy): Fine."
    )


def test_headings_and_white_space() -> None:
    assert heading("Architect", "architect", "agent") == "**Architect** (architect): "
    assert same_text("  a\n\nb  c\n", "a b c") and not same_text("a b", "a c")
