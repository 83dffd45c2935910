"""What a session remembers on one turn, and what the summariser is told: pure functions, like
application/context.py is for the agents and application/manager.py for the manager."""

from __future__ import annotations

import msgspec

from application.ports.llm import ChatMessage, ResponseFormat
from application.ports.turns import HistoryTurn
from domain.memory import SUMMARY_SCHEMA, Summary

SUMMARY_FORMAT = ResponseFormat(name="session_summary", schema=SUMMARY_SCHEMA)
_SUMMARISER_PROMPT = (
    "You keep the memory of a conversation between a user and a council of AI agents in a Pantheon "
    "room. Fold the earlier summary (if any) and the turns below into one new summary that later "
    "agents will read instead of those turns. Keep every fact, figure, name and decision that may "
    "matter later; drop pleasantries and repetition.\n\n"
    "Answer with exactly one JSON object and nothing else: "
    '{"summary_text": "<a few sentences>", "key_facts": ["…"], "decisions": ["…"], '
    '"open_questions": ["…"], "action_items": ["…"]} (empty lists are fine).'
)
_SECTIONS = (
    ("key_facts", "Key facts"),
    ("decisions", "Decisions"),
    ("open_questions", "Open questions"),
    ("action_items", "Action items"),
)


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    """The session as the calls of one turn see it: the newest summary and the raw turns after it
    (newest first). `before_*` is what they would have seen had this turn not summarised."""

    summary: Summary | None = None
    history: list[HistoryTurn] = []
    truncated: bool = False  # older raw turns, never folded, were not even read
    summarized: bool = False  # this turn wrote `summary`
    before_summary: Summary | None = None
    before_history: list[HistoryTurn] = []


def summary_block(summary: Summary | None) -> str:
    """The summary as the agents read it, in their system message (pinned: never dropped)."""
    if summary is None:
        return ""
    lines = [f"Summary of the conversation so far (turns 0–{summary.through_turn_index}):", summary.summary_text]
    for field, title in _SECTIONS:
        items: list[str] = getattr(summary, field)
        if items:
            lines.append(f"{title}:")
            lines.extend(f"- {item}" for item in items)
    return "\n".join(lines)


def turn_text(turn: HistoryTurn) -> str:
    answers = "\n\n".join(f"[{name}]: {content}" for name, content in turn.answers) or "(no answer)"
    return f"Turn {turn.turn_index}. The user: {turn.user_message}\n{answers}"


def summary_messages(
    previous: Summary | None,
    turns: list[HistoryTurn],
    room_goal: str | None,
    refused: tuple[str, str] | None = None,
) -> list[ChatMessage]:
    """The summary call: the earlier summary as JSON, then the turns to fold, oldest first.
    `refused` is (the summariser's last output, why it was refused): the repair call."""
    goal = f"\n\nThe room's goal: {room_goal}" if room_goal else ""
    earlier = (
        "The earlier summary:\n" + msgspec.json.encode(_content(previous)).decode()
        if previous
        else "There is no earlier summary."
    )
    folded = "\n\n".join(turn_text(t) for t in sorted(turns, key=lambda t: t.turn_index))
    messages = [
        ChatMessage("system", _SUMMARISER_PROMPT + goal),
        ChatMessage("user", f"{earlier}\n\nThe turns to fold in:\n\n{folded}"),
    ]
    if refused is not None:
        output, why = refused
        messages.append(ChatMessage("assistant", output or "(no answer)"))
        messages.append(
            ChatMessage("user", f"That summary was refused: {why.rstrip('.')}. Answer again with one valid object.")
        )
    return messages


def _content(summary: Summary) -> dict[str, object]:
    return {
        "summary_text": summary.summary_text,
        **{field: getattr(summary, field) for field, _ in _SECTIONS},
    }
