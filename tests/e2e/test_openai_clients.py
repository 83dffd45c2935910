"""A room as an OpenAI model, driven by OpenAI client libraries no one here wrote (the official `openai`
package, and LiteLLM) against a real `pantheon serve` process on real PostgreSQL, with the offline
`sim` models. What they see is checked against the native API (docs/http-api.md, "OpenAI-compatible
endpoint").

The wallet's 402 `insufficient_credits` is not here yet (the wallet lands separately): the facade
passes any native status and code through one table (entrypoints/http/openai_compat/errors.py), so
it reaches `openai.APIStatusError` with status 402 and `code` "insufficient_credits" — its test
belongs with the wallet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import API
from tests.support.server_process import Server

FAIL = "<<pantheon-sim:fail>>"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    process = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.12")
    yield process
    process.stop()


class Native:
    """A user of the native API, to build rooms and check what the OpenAI clients did."""

    def __init__(self, server: Server) -> None:
        self.base = server.url + API
        email = f"oa-{uuid.uuid4().hex[:10]}@example.com"
        self.key = httpx.post(f"{self.base}/users", json={"email": email}).json()["api_key"]
        self.headers = {"Authorization": f"Bearer {self.key}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, self.base + path, headers=self.headers, timeout=30, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def room(self, *agents: str, mode: str = "roundtable", failing: tuple[str, ...] = (), model: str = "sim") -> str:
        room = self.call("POST", "/rooms", json={"name": f"Council {mode}", "mode": mode})
        for key in agents:
            prompt = f"You are {key}." + (f" {FAIL}" if key in failing else "")
            body = {"agent_key": key, "name": key.title(), "model": model, "role_prompt": prompt}
            self.call("POST", f"/rooms/{room['id']}/agents", json=body)
        return room["id"]

    def sessions(self, room_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/rooms/{room_id}/sessions")["items"]

    def turns(self, session_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/sessions/{session_id}/turns")["items"]


@pytest.fixture(scope="module")
def native(server: Server) -> Native:
    return Native(server)


@pytest.fixture(scope="module")
def client(server: Server, native: Native) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=native.key, max_retries=0)


def ask(client: openai.OpenAI, room_id: str, messages: list[dict[str, str]], **kwargs: Any) -> Any:
    """A plain completion with its response headers."""
    raw = client.chat.completions.with_raw_response.create(model=f"room-{room_id}", messages=messages, **kwargs)
    return raw.parse(), raw.headers


def shown(turn: dict[str, Any]) -> str:
    """The answer as the contract describes it, built from the native turn."""
    parts = []
    for step in turn["steps"]:
        if step["kind"] == "manager":
            continue
        head = f"**{step['agent_name']}** ({step['agent_key'] or step['kind']}): "
        if step["status"] == "completed":
            parts.append(head + step["content"])
        else:
            parts.append(head + f"⚠ this step failed ({step['error']['code']}): {step['error']['detail']}")
    return "\n\n".join(parts)


def test_models_are_the_callers_rooms(server: Server, native: Native, client: openai.OpenAI) -> None:
    mine = native.room("ada")
    other = Native(server)
    theirs = other.room("ada")

    models = {m.id: m for m in client.models.list()}

    assert f"room-{mine}" in models and f"room-{theirs}" not in models
    assert models[f"room-{mine}"].owned_by == "pantheon" and models[f"room-{mine}"].object == "model"
    assert client.models.retrieve(f"room-{mine}").id == f"room-{mine}"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(f"room-{theirs}")


def test_a_plain_completion_holds_every_step_under_its_agents_name(native: Native, client: openai.OpenAI) -> None:
    room = native.room("ada", "bob", "cy", failing=("bob",))

    answer, headers = ask(client, room, [{"role": "user", "content": "Shall we ship on Friday?"}])

    session, turn_id = headers["x-pantheon-session"], headers["x-pantheon-turn"]
    [turn] = native.turns(session)
    assert turn["id"] == turn_id and turn["status"] == "partial"
    text = answer.choices[0].message.content
    assert text == shown(turn)
    assert text.startswith("**Ada** (ada): ") and "\n\n**Bob** (bob): ⚠ this step failed (simulated_failure)" in text
    assert text.index("**Ada**") < text.index("**Bob**") < text.index("**Cy**")
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.role == "assistant"
    assert answer.usage.prompt_tokens == turn["usage"]["input_tokens"] > 0
    assert answer.usage.completion_tokens == turn["usage"]["output_tokens"] > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_a_streamed_completion_comes_step_after_step_then_its_usage(native: Native, client: openai.OpenAI) -> None:
    room = native.room("ada", "bob", model="sim-slow")

    with client.chat.completions.with_streaming_response.create(
        model=f"room-{room}",
        messages=[{"role": "user", "content": "Plan the launch"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        session, turn_id = response.headers["x-pantheon-session"], response.headers["x-pantheon-turn"]
        chunks = list(response.parse())

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    [turn] = native.turns(session)
    assert turn["id"] == turn_id
    assert "".join(pieces) == shown(turn)
    assert len(pieces) > 2  # deltas as the agents produce them, not one block at the end
    assert pieces[0].startswith("**Ada** (ada): ") and not any("**Ada**" in p for p in pieces[1:])
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert not chunks[-1].choices and chunks[-1].usage is not None  # the final usage chunk
    assert chunks[-1].usage.prompt_tokens == turn["usage"]["input_tokens"]
    assert chunks[-1].usage.completion_tokens == turn["usage"]["output_tokens"]
    assert all(c.usage is None for c in chunks[:-1])


def test_three_exchanges_resent_by_the_client_continue_one_session(native: Native, client: openai.OpenAI) -> None:
    room = native.room("ada", "bob")
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    sessions = set()
    for number, question in enumerate(["What is the plan?", "Why that order?", "Who does what?"]):
        messages.append({"role": "user", "content": question})
        if number == 1:  # the same conversation, streamed this time
            with client.chat.completions.with_streaming_response.create(
                model=f"room-{room}", messages=messages, stream=True
            ) as response:
                sessions.add(response.headers["x-pantheon-session"])
                text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        else:
            answer, headers = ask(client, room, messages)
            sessions.add(headers["x-pantheon-session"])
            text = answer.choices[0].message.content
        messages.append({"role": "assistant", "content": text})

    [session] = sessions
    assert [(s["id"], s["turn_count"]) for s in native.sessions(room)] == [(session, 3)]
    turns = native.turns(session)
    assert [t["user_message"] for t in turns] == ["What is the plan?", "Why that order?", "Who does what?"]
    assert [shown(t) for t in turns] == [m["content"] for m in messages if m["role"] == "assistant"]


def test_new_edited_and_named_conversations(native: Native, client: openai.OpenAI) -> None:
    room = native.room("ada")
    first, first_headers = ask(client, room, [{"role": "user", "content": "Hello"}])
    [ada] = native.call("GET", f"/rooms/{room}/agents")["items"]
    native.call("PATCH", f"/rooms/{room}/agents/{ada['id']}", json={"role_prompt": "You are ada, renamed."})
    _, second_headers = ask(client, room, [{"role": "user", "content": "Hello"}])
    assert first_headers["x-pantheon-session"] != second_headers["x-pantheon-session"]  # a new conversation

    # Both sessions hold "Hello" (answered differently): the client's copy of the answer tells which
    # one goes on, white space aside, although the other is newer.
    reply = first.choices[0].message.content
    history = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": f"  {reply}\n"}]
    _, headers = ask(client, room, [*history, {"role": "user", "content": "More"}])
    assert headers["x-pantheon-session"] == first_headers["x-pantheon-session"]

    # An edited earlier message is not the stored conversation: a new session from there.
    edited = [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": reply}]
    _, headers = ask(client, room, [*edited, {"role": "user", "content": "More"}])
    assert headers["x-pantheon-session"] not in {
        first_headers["x-pantheon-session"],
        second_headers["x-pantheon-session"],
    }
    assert [t["user_message"] for t in native.turns(headers["x-pantheon-session"])] == ["More"]

    # X-Pantheon-Session names the session whatever the client sends.
    named = second_headers["x-pantheon-session"]
    _, headers = ask(client, room, [{"role": "user", "content": "Go on"}], extra_headers={"X-Pantheon-Session": named})
    assert headers["x-pantheon-session"] == named
    assert [t["user_message"] for t in native.turns(named)] == ["Hello", "Go on"]
    with pytest.raises(openai.NotFoundError):  # a session of another room is not this room's
        ask(client, native.room("bob"), [{"role": "user", "content": "x"}], extra_headers={"X-Pantheon-Session": named})


def test_a_retry_with_the_same_idempotency_key_replays_the_turn(native: Native, client: openai.OpenAI) -> None:
    room = native.room("ada")
    messages = [{"role": "user", "content": "Once only"}]
    key = {"Idempotency-Key": f"oa-{uuid.uuid4()}"}

    first, first_headers = ask(client, room, messages, extra_headers=key)
    again, headers = ask(client, room, messages, extra_headers=key)
    with client.chat.completions.with_streaming_response.create(
        model=f"room-{room}", messages=messages, stream=True, extra_headers=key
    ) as response:
        streamed = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        streamed_turn = response.headers["x-pantheon-turn"]

    assert headers["x-pantheon-turn"] == first_headers["x-pantheon-turn"] == streamed_turn
    assert again.choices[0].message.content == first.choices[0].message.content == streamed
    assert [s["turn_count"] for s in native.sessions(room)] == [1]


def test_an_orchestrated_room_shows_its_agents_and_synthesis_not_its_routing(
    native: Native, client: openai.OpenAI
) -> None:
    room = native.room("ada", "bob", mode="orchestrator")

    answer, headers = ask(client, room, [{"role": "user", "content": "@bob check the numbers, then @ada decide"}])

    [turn] = native.turns(headers["x-pantheon-session"])
    kinds = [s["kind"] for s in turn["steps"]]
    assert "manager" in kinds and kinds[-1] == "synthesis"
    text = answer.choices[0].message.content
    assert text == shown(turn)
    assert text.index("**Bob** (bob): ") < text.index("**Ada** (ada): ") < text.index("**Manager** (synthesis): ")
    assert "call_agent" not in text and text.count("**Manager**") == 1


def test_each_error_is_its_own_exception_with_the_native_code(server: Server, native: Native) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=native.key, max_retries=0)
    manual = native.room("ada", mode="manual")

    with pytest.raises(openai.UnprocessableEntityError) as refused:
        ask(client, manual, [{"role": "user", "content": "no tag here"}])
    assert refused.value.status_code == 422 and refused.value.code == "no_valid_tag"
    assert refused.value.body["type"] == "invalid_request_error" and refused.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as refused_streaming:
        list(
            client.chat.completions.create(
                model=f"room-{manual}", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    assert refused_streaming.value.code == "no_valid_tag"
    assert native.sessions(manual) == []  # a refused first message leaves no session behind

    with pytest.raises(openai.AuthenticationError) as unauthorized:
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-a-key", max_retries=0).models.list()
    assert unauthorized.value.status_code == 401 and unauthorized.value.code == "unauthorized"

    with pytest.raises(openai.NotFoundError) as missing:
        ask(client, str(uuid.uuid4()), [{"role": "user", "content": "@ada hi"}])
    assert missing.value.code == "not_found"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(openai.UnprocessableEntityError) as last_not_user:
        ask(client, manual, [{"role": "user", "content": "@ada hi"}, {"role": "assistant", "content": "hello"}])
    assert last_not_user.value.code == "validation_error"

    # The bodies are also the contract's error body, as on every native route.
    raw = httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": "room-x", "messages": []}, headers=native.headers
    )
    body = raw.json()
    assert (
        raw.status_code == 422 and body["status"] == 422 and body["code"] == body["error"]["code"] == "validation_error"
    )


def test_a_second_message_while_a_turn_runs_is_a_conflict(native: Native, client: openai.OpenAI) -> None:
    room = native.room("ada", model="sim-slow")
    session = native.call("POST", f"/rooms/{room}/sessions", json={})["id"]
    named = {"X-Pantheon-Session": session}

    with client.chat.completions.with_streaming_response.create(
        model=f"room-{room}", messages=[{"role": "user", "content": "Take your time"}], stream=True, extra_headers=named
    ) as running:
        with pytest.raises(openai.ConflictError) as conflict:
            ask(client, room, [{"role": "user", "content": "Me too"}], extra_headers=named)
        text = "".join(c.choices[0].delta.content or "" for c in running.parse() if c.choices)

    assert conflict.value.status_code == 409 and conflict.value.code == "turn_in_progress"
    assert [t["user_message"] for t in native.turns(session)] == ["Take your time"]
    assert text.startswith("**Ada** (ada): ")


def test_litellm_streams_a_rooms_answer(server: Server, native: Native, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import: no fetch of the cost map
    monkeypatch.setenv("LITELLM_TELEMETRY", "False")
    import litellm

    room = native.room("ada", "bob")
    stream = litellm.completion(
        model=f"openai/room-{room}",
        api_base=f"{server.url}/v1",
        api_key=native.key,
        messages=[{"role": "user", "content": "Summarise the options"}],
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    [session] = native.sessions(room)
    [turn] = native.turns(session["id"])
    assert text == shown(turn) and text.startswith("**Ada** (ada): ")
