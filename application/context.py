"""What one agent sees on one call: its own role prompt, the room's goal, recent history that fits
the model's budget, the answers given earlier in the same turn, and the user's message."""

from __future__ import annotations

import msgspec

from application.ports.llm import ChatMessage
from application.ports.turns import HistoryTurn, TurnContext
from domain.budget import compute_budget, estimate_tokens, fit_history
from domain.model import Mode, ModelSpec
from domain.turns import RosterEntry, StepKind, StepStatus, TurnStep

GLOBAL_PROMPT = (
    "You are one member of a council of AI agents in a Pantheon room. Answer the user directly and "
    "concisely, in your own voice; other agents may answer the same message."
)
MODE_PROMPTS = {
    Mode.MANUAL: "The user tagged you by name: answer their message.",
    Mode.ROUNDTABLE: "Every agent answers in turn. Build on the earlier answers instead of repeating them.",
    Mode.ORCHESTRATOR: "A manager routes the conversation and asked for your contribution.",
}


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[ChatMessage]
    input_budget: int
    estimated_tokens: int
    history_turns: int
    history_truncated: bool


def system_prompt(turn: TurnContext, agent: RosterEntry) -> str:
    # The agent's own role comes first: it is what makes this agent different from the others.
    parts = [f"You are {agent.name} (@{agent.agent_key}). {agent.role_prompt}", GLOBAL_PROMPT, MODE_PROMPTS[turn.mode]]
    if turn.room_goal:
        parts.append(f"The room's goal: {turn.room_goal}")
    return "\n\n".join(parts)


def current_message(turn: TurnContext, earlier: list[TurnStep], instruction: str | None = None) -> str:
    """The user's message, after the answers given earlier in this turn (a manager's routing is not an
    answer) and, in orchestrator mode, what the manager asks of this agent."""
    asked = f"\n\nThe manager asks you: {instruction}" if instruction else ""
    answers = [step for step in earlier if step.kind is not StepKind.MANAGER]
    if not answers:
        return turn.user_message + asked
    lines = []
    for step in answers:
        who = step.agent_name or step.kind.value
        if step.status is StepStatus.COMPLETED:
            lines.append(f"[{who}]: {step.content}")
        else:
            code = step.error.code if step.error else "error"
            lines.append(f"[{who}] (failed to answer: {code})")
    return (
        "Answers given earlier in this turn:\n"
        + "\n".join(lines)
        + "\n\nThe user's message:\n"
        + turn.user_message
        + asked
    )


def _history_pair(turn: HistoryTurn) -> list[ChatMessage]:
    answers = "\n\n".join(f"[{name}]: {content}" for name, content in turn.answers) or "(no answer)"
    return [ChatMessage("user", turn.user_message), ChatMessage("assistant", answers)]


def build_call_context(
    turn: TurnContext,
    agent: RosterEntry,
    spec: ModelSpec | None,
    earlier: list[TurnStep],
    history: list[HistoryTurn],
    instruction: str | None = None,
) -> CallContext:
    """`history` comes newest-first; the newest turns that fit are kept, oldest first in the prompt."""
    system = system_prompt(turn, agent)
    message = current_message(turn, earlier, instruction)
    budget = compute_budget(spec.context_window if spec else None).input_budget
    pairs = [_history_pair(h) for h in history]
    counts = [sum(estimate_tokens(m.content) for m in pair) for pair in pairs]
    kept = fit_history(estimate_tokens(system), estimate_tokens(message), counts, budget)
    messages = [ChatMessage("system", system)]
    for pair in reversed(pairs[:kept]):
        messages.extend(pair)
    messages.append(ChatMessage("user", message))
    estimated = estimate_tokens(system) + estimate_tokens(message) + sum(counts[:kept])
    return CallContext(
        messages=messages,
        input_budget=budget,
        estimated_tokens=estimated,
        history_turns=kept,
        history_truncated=kept < len(history),
    )
