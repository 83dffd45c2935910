"""The manager's decision in orchestrator mode: a tagged union decoded strictly against its exact type
(never parsed out of free text), and what a turn says about its routing."""

from __future__ import annotations

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


def decode_decision(text: str) -> Decision:
    """The decision in `text`, exactly as the schema says. Raises msgspec.DecodeError (wrong JSON) or
    msgspec.ValidationError (right JSON, wrong shape), whose message is quoted in the repair call."""
    return msgspec.json.decode(text.strip(), type=Decision)  # type: ignore[arg-type]
