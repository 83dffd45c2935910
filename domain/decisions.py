"""The manager's decision in orchestrator mode: a tagged union decoded strictly against its exact type
(never parsed out of free text), and what a turn says about its routing."""

from __future__ import annotations

from typing import Literal

import msgspec


class CallAgent(msgspec.Struct, tag="call_agent", tag_field="action", frozen=True, forbid_unknown_fields=True):
    agent_key: str
    instruction: str


class Finish(msgspec.Struct, tag="finish", tag_field="action", frozen=True, forbid_unknown_fields=True):
    reason: str


Decision = CallAgent | Finish


class Orchestration(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    fallback: bool
    reason: str | None = None  # why the manager's routing fell back to finishing with what existed


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The decision as models are asked to write it: one flat object (every JSON-schema dialect of the
    providers can express it), turned into the tagged union above once checked."""

    action: Literal["call_agent", "finish"]
    agent_key: str | None = None
    instruction: str | None = None
    reason: str | None = None


# The JSON schema the manager's answer must follow (OpenAI-compatible `json_schema`, Anthropic's forced
# tool): every property listed as required, the ones an action does not use given as null.
DECISION_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["call_agent", "finish"]},
        "agent_key": {"type": ["string", "null"], "description": "call_agent: the key of the agent to call"},
        "instruction": {"type": ["string", "null"], "description": "call_agent: what the agent should do"},
        "reason": {"type": ["string", "null"], "description": "finish: why the council is done"},
    },
    "required": ["action", "agent_key", "instruction", "reason"],
    "additionalProperties": False,
}


class DecisionError(ValueError):
    """The manager's answer is not a decision; the message is quoted to it in the repair call."""


def decode_decision(text: str) -> Decision:
    """The decision in `text`, decoded strictly (no regex, no guessing); DecisionError says what is wrong."""
    try:
        wire = msgspec.json.decode(text.strip().encode(), type=_Wire)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecisionError(f"not a valid decision object: {exc}") from None
    if wire.action == "call_agent":
        if not wire.agent_key or wire.instruction is None:
            raise DecisionError("call_agent needs agent_key and instruction")
        return CallAgent(agent_key=wire.agent_key, instruction=wire.instruction)
    if wire.reason is None:
        raise DecisionError("finish needs a reason")
    return Finish(reason=wire.reason)


def encode_decision(decision: Decision) -> str:
    """A decision as the manager wrote it (the flat object), for its transcript."""
    if isinstance(decision, CallAgent):
        wire = _Wire(action="call_agent", agent_key=decision.agent_key, instruction=decision.instruction)
    else:
        wire = _Wire(action="finish", reason=decision.reason)
    return msgspec.json.encode(wire).decode()
