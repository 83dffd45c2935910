"""What the manager of an orchestrated turn is told, and how its decisions read in the turn: pure
functions, like application/context.py is for the agents."""

from __future__ import annotations

from application.ports.llm import ChatMessage, ResponseFormat
from application.ports.turns import TurnContext
from domain.decisions import DECISION_SCHEMA, CallAgent, Decision, encode_decision
from domain.orchestration import MAX_AGENT_RUNS, MAX_RUNS_PER_AGENT
from domain.turns import StepKind, StepStatus, TurnStep

MANAGER_NAME = "Manager"
DECISION_FORMAT = ResponseFormat(name="decision", schema=DECISION_SCHEMA)
_MANAGER_PROMPT = (
    "You are the manager of a council of AI agents in a Pantheon room. You do not answer the user "
    "yourself: you decide, one step at a time, which agent should contribute next and what to ask of "
    "it, and you finish when the council has said enough. An agent may be called again. At most "
    f"{MAX_RUNS_PER_AGENT} runs per agent and {MAX_AGENT_RUNS} runs in all.\n\n"
    "Answer with exactly one JSON object and nothing else: "
    '{"action": "call_agent", "agent_key": "<key>", "instruction": "<what to do>", "reason": null} '
    'or {"action": "finish", "agent_key": null, "instruction": null, "reason": "<why>"}.'
)
_SYNTHESIS_PROMPT = (
    "You are the manager of a council of AI agents in a Pantheon room. The agents you called have "
    "answered. Write the council's final answer to the user: one clear reply that draws on what they "
    "said, notes where they disagree, and does not invent what none of them said."
)


def _roster_lines(turn: TurnContext) -> str:
    return "\n".join(f"- {a.agent_key} ({a.name}): {a.role_prompt}" for a in turn.roster)


def _goal(turn: TurnContext) -> str:
    return f"\n\nThe room's goal: {turn.room_goal}" if turn.room_goal else ""


def _answer(step: TurnStep) -> str:
    who = f"{step.agent_name} ({step.agent_key})"
    if step.status is StepStatus.COMPLETED:
        return f"{who} answered:\n{step.content}"
    if step.status is StepStatus.STOPPED:
        return f"{who} was stopped while answering; what it had said:\n{step.content}"
    return f"{who} failed to answer ({step.error.code if step.error else 'error'})."


def _budget(budget: str | None) -> str:
    if budget is None:
        return ""
    return (
        f"\n\nWhat is left of this turn's budget: {budget}. When it runs out the turn stops and goes "
        "straight to the synthesis, so finish while something useful is left."
    )


def manager_messages(
    turn: TurnContext,
    earlier: list[TurnStep],
    refused: tuple[str, str] | None = None,
    budget: str | None = None,
) -> list[ChatMessage]:
    """The decision call: the roster, the user's message, the turn so far (each decision, each answer).
    `refused` is (the manager's last output, why it was refused): the repair call. `budget` is what is
    left of the turn's caps, in words (domain/stopping.py remaining_budget)."""
    messages = [
        ChatMessage("system", f"{_MANAGER_PROMPT}\n\nThe agents:\n{_roster_lines(turn)}{_goal(turn)}{_budget(budget)}"),
        ChatMessage("user", f"The user's message:\n{turn.user_message}"),
    ]
    for step in earlier:
        if step.kind is StepKind.MANAGER and step.decision is not None:
            messages.append(ChatMessage("assistant", encode_decision(step.decision)))
        elif step.kind is StepKind.AGENT:
            messages.append(ChatMessage("user", _answer(step)))
    if refused is not None:
        output, why = refused
        messages.append(ChatMessage("assistant", output or "(no answer)"))
        refusal = f"That decision was refused: {why.rstrip('.')}. Answer again with one valid decision."
        messages.append(ChatMessage("user", refusal))
    return messages


def synthesis_messages(turn: TurnContext, earlier: list[TurnStep], budget: str | None = None) -> list[ChatMessage]:
    answers = [_answer(s) for s in earlier if s.kind is StepKind.AGENT] or ["(no agent answered)"]
    short = f"\n\nThis turn's budget is nearly spent ({budget} left): keep the answer short." if budget else ""
    return [
        ChatMessage("system", f"{_SYNTHESIS_PROMPT}{_goal(turn)}{short}"),
        ChatMessage(
            "user",
            "The council's answers:\n\n" + "\n\n".join(answers) + f"\n\nThe user's message:\n{turn.user_message}",
        ),
    ]


def decision_account(decision: Decision) -> str:
    """A manager step's content: its decision, readable."""
    if isinstance(decision, CallAgent):
        return f"Asked {decision.agent_key}: {decision.instruction}"
    return f"Finished: {decision.reason}"
