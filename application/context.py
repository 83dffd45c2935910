"""What one agent sees on one call: its own role prompt, the room's goal, the session's summary, the
recent turns that fit the model's budget, the answers given earlier in the same turn, and the user's
message."""

from __future__ import annotations

import msgspec

from application.memory import Memory, summary_block
from application.ports.llm import ChatMessage
from application.ports.turns import HistoryTurn, TurnContext
from domain.budget import compute_budget, message_tokens
from domain.memory import Summary, keep_history
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
    estimated_tokens_before: int  # had this turn neither summarised nor pruned
    estimated_tokens: int  # what is sent
    history_turns: int
    actions: list[str]


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


def turn_tokens(turn: HistoryTurn) -> int:
    """What an earlier turn costs in an agent's prompt: its user message and its answers."""
    return sum(message_tokens(m.content) for m in _history_pair(turn))


def _system(turn: TurnContext, agent: RosterEntry, summary: Summary | None) -> str:
    block = summary_block(summary)
    return system_prompt(turn, agent) + (f"\n\n{block}" if block else "")


def build_call_context(
    turn: TurnContext,
    agent: RosterEntry,
    spec: ModelSpec | None,
    earlier: list[TurnStep],
    memory: Memory,
    instruction: str | None = None,
) -> CallContext:
    """In order: the system layers (this agent's role, the room's goal, the session's summary), the
    raw turns that fit (oldest first), then this turn's earlier answers with the user's message.
    Raises ContextBudgetExceeded when the pinned parts alone cannot fit the model."""
    system = _system(turn, agent, memory.summary)
    message = current_message(turn, earlier, instruction)
    budget = compute_budget(spec.context_window if spec else None).input_budget
    pinned = message_tokens(system) + message_tokens(message)
    counts = [turn_tokens(h) for h in memory.history]
    kept = keep_history(pinned, counts, budget)
    messages = [ChatMessage("system", system)]
    for past in reversed(memory.history[:kept]):
        messages.extend(_history_pair(past))
    messages.append(ChatMessage("user", message))
    before = pinned + sum(counts)
    if memory.summarized:
        before = message_tokens(_system(turn, agent, memory.before_summary)) + message_tokens(message)
        before += sum(turn_tokens(h) for h in memory.before_history)
    actions = [
        action
        for action, fired in (
            ("summarized", memory.summarized),
            ("pruned", kept < len(memory.history)),
            ("history_truncated", memory.truncated),
        )
        if fired
    ]
    return CallContext(
        messages=messages,
        input_budget=budget,
        estimated_tokens_before=before,
        estimated_tokens=pinned + sum(counts[:kept]),
        history_turns=kept,
        actions=actions,
    )


def session_tokens(
    turn: TurnContext, agents: list[RosterEntry], summary: Summary | None, history: list[HistoryTurn]
) -> int:
    """The session's context as the turn finds it, for the summary threshold: the largest system layers
    among `agents`, the user's message and every raw turn after the summary."""
    system = max((message_tokens(_system(turn, agent, summary)) for agent in agents), default=0)
    return system + message_tokens(turn.user_message) + sum(turn_tokens(h) for h in history)
