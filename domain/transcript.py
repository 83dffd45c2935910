"""A turn read as one chat message: every shown step introduced by who spoke, in order.

This is how a room answers a client that expects one model (the OpenAI-compatible entrypoint): agent
and synthesis steps are shown, the orchestrator's manager (routing) steps are not; a failed step says
so in one line. The same pieces build the streamed answer, so a message streamed and one read back
from the stored turn hold the same text.
"""

from __future__ import annotations

import re

from domain.turns import StepKind, StepStatus, TurnStep

STEP_SEPARATOR = "\n\n"
_SPACE = re.compile(r"\s+")


def shown(kind: StepKind | str) -> bool:
    """Manager steps are the orchestrator's routing, internal to the turn; the rest is the answer."""
    return StepKind(kind) is not StepKind.MANAGER


def heading(agent_name: str, agent_key: str | None, kind: StepKind | str) -> str:
    """`**Architect** (architect): ` — the synthesis, which no agent writes, says `(synthesis)`."""
    label = agent_key if agent_key else StepKind(kind).value
    return f"**{agent_name}** ({label}): "


def failure_line(code: str, detail: str) -> str:
    return f"⚠ this step failed ({code}): {' '.join(detail.split())}"


def step_text(step: TurnStep) -> str:
    """A shown step as the answer holds it: its heading, then its text or the one line of its failure."""
    head = heading(step.agent_name or "", step.agent_key, step.kind)
    if step.status is StepStatus.COMPLETED or step.error is None:
        return head + step.content
    partial = step.content + "\n" if step.content else ""
    return head + partial + failure_line(step.error.code, step.error.detail)


def transcript(steps: list[TurnStep]) -> str:
    """The whole answer of a turn, steps by index."""
    return STEP_SEPARATOR.join(step_text(s) for s in sorted(steps, key=lambda s: s.index) if shown(s.kind))


def same_text(a: str, b: str) -> bool:
    """Two copies of an answer are the same if they differ only in white space (clients trim and
    re-wrap what they display and send back)."""
    return _SPACE.sub(" ", a).strip() == _SPACE.sub(" ", b).strip()
