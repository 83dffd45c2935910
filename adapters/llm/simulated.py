"""The simulated provider: deterministic answers, realistic usage, streamed in chunks, no network.

The answer is derived from the agent's role prompt (the last system message) and the last user
message, so different agents answer differently and a rerun answers identically. Aliases whose
provider model ends in "-slow" (the built-in `sim-slow`) pause between chunks, to exercise streaming.

Deliberate failure (for tests and demos): a system message containing the exact marker
`<<pantheon-sim:fail>>` makes the call fail with one attempt of status "error" and error code
`simulated_failure`; its input tokens are counted, its output is 0. The marker is unlikely to be
typed by accident, and a user message never triggers it.

Echo (for rendering tests and demos): a system message containing `<<pantheon-sim:echo>>` makes the
answer the user's message itself, verbatim (still streamed in chunks and billed), so a test can make
a model "write" any Markdown or any hostile text it needs to see rendered.

As an orchestrator's manager (a request with a response format), `sim` decides deterministically:
it calls the agents the user's message tags, in the order they are tagged and as often (`@ada @bob
@ada`: ada, bob, then ada again), or every agent of the roster once when nothing is tagged, then
finishes. Each instruction is what the text after the agent's tag asks (`@bob, check the numbers`:
"Check the numbers"), else a request for its view. It counts the agents called so far from the
transcript it is sent. To rehearse invalid
output, the room's goal (part of the manager's system message, never the user's) may hold
`<<pantheon-sim:bad-decision>>` (the first answer of each decision is free text, the repair is valid)
or `<<pantheon-sim:bad-decisions>>` (every answer is free text: the turn falls back).

As the summariser of session memory (a request whose response format is `session_summary`), `sim`
folds the earlier summary and the turns it is sent into one deterministically: sentences of the
user's messages that begin with "Fact:" become key facts (all kept, oldest first), "Decision:"
decisions, "Action:" or "TODO:" action items, questions the open questions (the last five); the
summary text names the turns and their topics. The room's goal may hold `<<pantheon-sim:bad-summary>>`
(the first answer is free text, the repair is valid), `<<pantheon-sim:bad-summaries>>` (every answer
is free text) or `<<pantheon-sim:summary-fails>>` (the call fails, as a provider error would).
An agent asked to "recall" or "remind" answers with every "Fact: …" sentence it was sent (from the
summary or the recent turns), so that a test can see what memory carried.

For measuring streams (`make bench`): a system message holding `<<pantheon-sim:clock>>` makes each
chunk start with the wall-clock time it was handed over, `[t=<ns since the epoch>]`, so a client on the
same machine can tell how long a delta took from the provider to its screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import time
from collections.abc import Sequence

from adapters.llm import codes
from adapters.llm.estimate import estimate_input_tokens
from adapters.llm.retry import Sleep
from application.ports.llm import (
    AttemptObserver,
    CallCancel,
    ChatMessage,
    DeltaSink,
    LlmAttempt,
    LlmRequest,
    LlmResult,
)
from domain.budget import estimate_tokens
from domain.turns import StepError, TokenUsage

FAIL_MARKER = "<<pantheon-sim:fail>>"
ECHO_MARKER = "<<pantheon-sim:echo>>"
BAD_DECISION = "<<pantheon-sim:bad-decision>>"
BAD_DECISIONS = "<<pantheon-sim:bad-decisions>>"
BAD_SUMMARY = "<<pantheon-sim:bad-summary>>"
BAD_SUMMARIES = "<<pantheon-sim:bad-summaries>>"
SUMMARY_FAILS = "<<pantheon-sim:summary-fails>>"
SUMMARY_FORMAT_NAME = "session_summary"
_FACT = re.compile(r"\bFact:[^.!?\n]*[.!?]?")
_TURN_LINE = re.compile(r"^Turn (\d+)\. The user: (.*)$", re.MULTILINE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_RECALL = re.compile(r"\b(recall|remind)", re.IGNORECASE)
CLOCK_MARKER = "<<pantheon-sim:clock>>"
_TAG = re.compile(r"(?<![\w.@-])@([a-z][a-z0-9_]{0,31})(?![a-z0-9_])")
_LEADING_FILLER = re.compile(r"^(?:(?:again|then|and|too)\b[\s,;:.-]*)+", re.IGNORECASE)
_TRAILING_FILLER = re.compile(r"(?:[\s,;:.-]*\b(?:then|and|again))+$", re.IGNORECASE)
_ROSTER_LINE = re.compile(r"^- ([a-z][a-z0-9_]{0,31}) \(", re.MULTILINE)
WORDS_PER_CHUNK = 3
EXCERPT_WORDS = 8

_OPENERS = (
    'Speaking as {role}, here is my take on "{topic}".',
    'From the point of view of {role}, I would approach "{topic}" step by step.',
    'As {role}, my first reaction to "{topic}" is cautious optimism.',
    'Wearing the hat of {role}, I see "{topic}" as a question of priorities.',
)
_POINTS = (
    "The key is to separate what we know from what we are only assuming.",
    "I would start with the smallest experiment that could prove us wrong.",
    "Costs and risks should be written down before anyone commits to a plan.",
    "There is usually a simpler option worth trying before the ambitious one.",
    "We should agree early on how success will actually be measured.",
    "The biggest risk here is trying to do too many things at once.",
    "Talking to the people most affected will sharpen the plan quickly.",
    "A short written summary would keep everyone aligned on the decision.",
)
_CLOSERS = (
    "That is my recommendation for now.",
    "I am happy to go deeper on any part of this.",
    "Tell me which point deserves a closer look.",
)


class SimulatedLlm:
    def __init__(self, *, slow_chunk_delay_s: float = 0.15, sleep: Sleep = asyncio.sleep) -> None:
        self._slow_chunk_delay_s = slow_chunk_delay_s
        self._sleep = sleep

    async def stream(
        self,
        request: LlmRequest,
        on_delta: DeltaSink | None = None,
        observer: AttemptObserver | None = None,
        cancel: CallCancel | None = None,
    ) -> LlmResult:
        if cancel is not None and cancel.cancelled:
            return LlmResult(text="", attempts=[], stopped=True)  # nothing was sent
        if observer is not None:
            await observer.attempt_started(request.first_call_id)
        result = await self._answer(request, on_delta, cancel)
        if observer is not None:
            await observer.attempt_finished(result.attempts[0])
        return result

    async def _pause(self, delay_s: float, cancel: CallCancel | None) -> None:
        """The pause between chunks of a slow model, cut short by a `now` stop."""
        if cancel is None:
            await self._sleep(delay_s)
            return
        waiting, sleeping = asyncio.ensure_future(cancel.wait()), asyncio.ensure_future(self._sleep(delay_s))
        try:
            await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            sleeping.cancel()

    async def _answer(self, request: LlmRequest, on_delta: DeltaSink | None, cancel: CallCancel | None) -> LlmResult:
        started = time.monotonic()
        role_prompt = _last(request.messages, "system")
        user_message = _last(request.messages, "user").rpartition("The user's message:\n")[2]
        digest = hashlib.sha256(f"{role_prompt}\x00{user_message}".encode()).hexdigest()
        input_tokens = estimate_input_tokens(request.messages)

        summarising = request.response_format is not None and request.response_format.name == SUMMARY_FORMAT_NAME
        if summarising and SUMMARY_FAILS in request.messages[0].content:
            return _failure(request, "the simulated summariser was asked to fail", input_tokens, started, digest)
        if request.response_format is not None:
            decision = summarize(request.messages) if summarising else decide(request.messages)
            usage = TokenUsage(input_tokens=input_tokens, output_tokens=estimate_tokens(decision))
            attempt = LlmAttempt(
                call_id=request.first_call_id,
                status="success",
                usage=usage,
                latency_ms=_elapsed_ms(started),
                request_id=f"sim-{digest[:12]}",
            )
            return LlmResult(text=decision, attempts=[attempt])

        if any(m.role == "system" and FAIL_MARKER in m.content for m in request.messages):
            return _failure(request, "the simulated provider was asked to fail", input_tokens, started, digest)

        echo = any(m.role == "system" and ECHO_MARKER in m.content for m in request.messages)
        answer = user_message if echo else compose_answer(role_prompt, user_message, digest)
        if not echo and _RECALL.search(user_message):
            answer = recall(request.messages) or answer
        delay_s = self._slow_chunk_delay_s if request.model.provider_model.endswith("-slow") else 0.0
        clock = any(m.role == "system" and CLOCK_MARKER in m.content for m in request.messages)
        sent = []
        for chunk in split_chunks(answer):
            if delay_s:
                await self._pause(delay_s, cancel)
            if cancel is not None and cancel.cancelled:
                return _cut(request, "".join(sent), input_tokens, started, digest)
            if clock:
                chunk = f"[t={time.time_ns()}]{chunk}"
            sent.append(chunk)
            if on_delta is not None:
                await on_delta(chunk)
        answer = "".join(sent)
        attempt = LlmAttempt(
            call_id=request.first_call_id,
            status="success",
            usage=TokenUsage(input_tokens=input_tokens, output_tokens=estimate_tokens(answer)),
            latency_ms=_elapsed_ms(started),
            request_id=f"sim-{digest[:12]}",
        )
        return LlmResult(text=answer, attempts=[attempt])


def _failure(request: LlmRequest, detail: str, input_tokens: int, started: float, digest: str) -> LlmResult:
    """One `error` attempt, its input counted, no output: what a provider that fails looks like."""
    error = StepError(code=codes.SIMULATED_FAILURE, detail=detail)
    attempt = LlmAttempt(
        call_id=request.first_call_id,
        status="error",
        usage=TokenUsage(input_tokens=input_tokens),
        latency_ms=_elapsed_ms(started),
        request_id=f"sim-{digest[:12]}",
        error=error,
    )
    return LlmResult(text="", attempts=[attempt], error=error)


def _cut(request: LlmRequest, partial: str, input_tokens: int, started: float, digest: str) -> LlmResult:
    """Cancelled mid-answer: the usage a provider would not have reported yet, estimated."""
    attempt = LlmAttempt(
        call_id=request.first_call_id,
        status="cancelled",
        usage=TokenUsage(input_tokens=input_tokens, output_tokens=estimate_tokens(partial)),
        latency_ms=_elapsed_ms(started),
        request_id=f"sim-{digest[:12]}",
        usage_estimated=True,
    )
    return LlmResult(text=partial, attempts=[attempt], stopped=True)


def decide(messages: Sequence[ChatMessage]) -> str:
    """The simulated manager's next decision, as JSON (or, when rehearsing, as the free text a careless
    model writes). Only what it is sent counts: the roster, the user's message, the decisions so far."""
    system = next((m.content for m in messages if m.role == "system"), "")
    repairing = messages[-1].role == "user" and messages[-1].content.startswith("That decision was refused")
    if BAD_DECISIONS in system or (BAD_DECISION in system and not repairing):
        return "I think the next agent should be the most relevant one."
    roster = _ROSTER_LINE.findall(system)
    asked = next((m.content for m in messages if m.role == "user"), "").removeprefix("The user's message:\n")
    tagged = [(key, ask) for key, ask in _asks(asked) if key in roster]
    wanted = tagged or [(key, "") for key in roster]
    called = 0
    for message in messages[2:]:
        if message.role == "assistant" and message.content.startswith('{"action":"call_agent"'):
            called += 1
    if repairing:
        called -= 1 if messages[-2].content.startswith('{"action":"call_agent"') else 0
    if called < len(wanted):
        key, ask = wanted[called]
        instruction = ask or f"Give your view on: {_excerpt(asked) or 'the question'}"
        decision = {"action": "call_agent", "agent_key": key, "instruction": instruction}
        return json.dumps({**decision, "reason": None}, separators=(",", ":"))
    done = {"action": "finish", "agent_key": None, "instruction": None, "reason": "Every agent asked has answered."}
    return json.dumps(done, separators=(",", ":"))


def summarize(messages: Sequence[ChatMessage]) -> str:
    """The simulated summariser's answer, as JSON (or, when rehearsing, the free text of a careless model)."""
    system = messages[0].content if messages else ""
    repairing = messages[-1].role == "user" and messages[-1].content.startswith("That summary was refused")
    if BAD_SUMMARIES in system or (BAD_SUMMARY in system and not repairing):
        return "Here is a summary: the council talked about several things."
    request = next((m.content for m in messages if m.role == "user"), "")
    earlier: dict[str, list[str]] = {}
    if request.startswith("The earlier summary:\n"):
        first_line = request.split("\n", 2)[1]
        with contextlib.suppress(ValueError):
            earlier = json.loads(first_line)
    turns = [(int(index), text) for index, text in _TURN_LINE.findall(request)]
    sentences = [sentence.strip() for _, text in turns for sentence in _SENTENCE.findall(text) if sentence.strip()]

    def kept(field: str, new: list[str], last: int | None = None) -> list[str]:
        merged = list(dict.fromkeys([*earlier.get(field, []), *new]))
        return merged[-last:] if last else merged[:40]

    span = f"turns {turns[0][0]}–{turns[-1][0]}" if turns else "no new turns"
    topics = "; ".join(_excerpt(text) for _, text in turns[-5:]) or "nothing new"
    summary = {
        "summary_text": f"Folded {span}. The user raised: {topics}.",
        "key_facts": kept("key_facts", [s for s in sentences if s.startswith("Fact:")]),
        "decisions": kept("decisions", [s for s in sentences if s.startswith("Decision:")]),
        "open_questions": kept("open_questions", [s for s in sentences if s.endswith("?")], last=5),
        "action_items": kept("action_items", [s for s in sentences if s.startswith(("Action:", "TODO:"))]),
    }
    return json.dumps(summary, separators=(",", ":"), ensure_ascii=False)


def recall(messages: Sequence[ChatMessage]) -> str:
    """Every "Fact: …" sentence the agent was sent before the user's message, quoted."""
    facts = list(dict.fromkeys(f.strip() for m in messages[:-1] for f in _FACT.findall(m.content)))
    return ("From what I was told: " + " ".join(facts)) if facts else ""


def _asks(message: str) -> list[tuple[str, str]]:
    """Each tag of `message` with what the text after it (up to the next tag) asks: `@ada, check the
    numbers; then @bob ...` → ("ada", "Check the numbers")."""
    tags = list(_TAG.finditer(message))
    asks = []
    for tag, following in zip(tags, [*tags[1:], None], strict=False):  # None: the last tag runs to the end
        text = message[tag.end() : following.start() if following else len(message)]
        text = _LEADING_FILLER.sub("", text.strip(" ,;:.-\n"))
        text = _TRAILING_FILLER.sub("", text).strip(" ,;:.-")
        asks.append((tag.group(1), text[:1].upper() + text[1:] if text else ""))
    return asks


def compose_answer(role_prompt: str, user_message: str, digest: str) -> str:
    """An opener naming the role and topic, three points and a closer: 30-80 words, seeded by digest."""
    rng = random.Random(int(digest, 16))  # seeded PRNG: deterministic, not security-relevant
    role = _excerpt(re.sub(r"^\s*you\s+are\s+", "", role_prompt, flags=re.IGNORECASE)) or "a helpful assistant"
    topic = _excerpt(user_message) or "the question"
    sentences = [rng.choice(_OPENERS).format(role=role, topic=topic)]
    sentences += rng.sample(_POINTS, 3)
    sentences.append(rng.choice(_CLOSERS))
    return " ".join(sentences)


def split_chunks(text: str, words_per_chunk: int = WORDS_PER_CHUNK) -> list[str]:
    """Chunks of a few words, trailing spaces kept, so the chunks join back to exactly `text`."""
    words = re.findall(r"\S+\s*", text)
    return ["".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)]


def _excerpt(text: str) -> str:
    words = text.split()
    excerpt = " ".join(words[:EXCERPT_WORDS]).rstrip(".,;:!?\"'")
    return excerpt + "…" if len(words) > EXCERPT_WORDS else excerpt


def _last(messages: Sequence[ChatMessage], role: str) -> str:
    return next((m.content for m in reversed(messages) if m.role == role), "")


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
