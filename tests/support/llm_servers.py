"""Loopback fakes of LLM providers for tests: OpenAI chat completions and Anthropic Messages.

A raw asyncio HTTP/1.1 server (one request per connection) so tests control every byte: status,
headers, content type, streamed chunks with pauses between them, and abrupt connection drops.
Each server answers from a per-request script (`server.script(reply, reply, ...)`) and records
what it received (`server.requests`). With an empty script it answers a normal short stream.

Usage:
    async with OpenAiServer() as server:
        server.script(status_reply(429, headers={"retry-after": "1"}), OPENAI.stream(["Hi"]))
        ... point a provider's base_url at server.base_url ...

When the code under test blocks the test's event loop (litestar's AsyncTestClient runs the app
through a blocking portal on another thread), run the servers on a loop of their own:
    with ServerThread() as thread:
        server = thread.start(OpenAiServer())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TypeVar

# --- replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Inside a streamed reply: stay silent this long (to trip read timeouts or deadlines)."""

    seconds: float


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # used when `chunks` is None
    chunks: list[bytes | Pause] | None = None  # streamed with chunked transfer encoding
    cut: bool = False  # drop the connection without the final chunk (an abrupt, mid-body failure)


def json_reply(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, headers=headers or {}, body=json.dumps(payload).encode())


def status_reply(status: int, message: str = "scripted failure", *, headers: dict[str, str] | None = None) -> Reply:
    return json_reply({"error": {"message": message, "type": "scripted"}}, status=status, headers=headers)


def text_reply(body: str, *, content_type: str = "text/html", status: int = 200) -> Reply:
    return Reply(status=status, content_type=content_type, body=body.encode())


def sse_reply(events: list[str | Pause], *, cut: bool = False, headers: dict[str, str] | None = None) -> Reply:
    chunks: list[bytes | Pause] = [e if isinstance(e, Pause) else e.encode() for e in events]
    return Reply(content_type="text/event-stream", headers=headers or {}, chunks=chunks, cut=cut)


# --- protocol kits: the replies a real provider would send ---------------------------------------


@dataclass(frozen=True)
class FakeUsage:
    """Provider-neutral usage: input counts all prompt tokens, cached the cached part."""

    input: int
    output: int
    cached: int = 0


def _data(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


class OpenAiKit:
    kind = "openai"
    path_suffix = "/chat/completions"

    def stream(
        self,
        pieces: list[str],
        *,
        usage: FakeUsage | None = None,
        finish: bool = True,
        done: bool = True,
        chunk_id: str = "chatcmpl-fake",
        pause_after: int | None = None,
        pause_s: float = 0.0,
        cut: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        events: list[str | Pause] = [_data(self._chunk(chunk_id, {"role": "assistant", "content": ""}))]
        for index, piece in enumerate(pieces):
            events.append(_data(self._chunk(chunk_id, {"content": piece})))
            if pause_after is not None and index + 1 == pause_after:
                events.append(Pause(pause_s))
        if finish:
            events.append(_data(self._chunk(chunk_id, {}, finish_reason="stop")))
        if usage is not None:
            events.append(
                _data({"id": chunk_id, "object": "chat.completion.chunk", "choices": [], "usage": self.usage(usage)})
            )
        if done:
            events.append("data: [DONE]\n\n")
        return sse_reply(events, cut=cut, headers=headers)

    def body(self, text: str, usage: FakeUsage | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": "chatcmpl-json",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }
        if usage is not None:
            payload["usage"] = self.usage(usage)
        return payload

    def error_in_stream(self, error_type: str, message: str, code: str | None = None) -> Reply:
        error = {"type": error_type, "message": message, **({"code": code} if code is not None else {})}
        return sse_reply([_data({"error": error})])

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {"error": {"type": error_type, "message": message}}

    @staticmethod
    def usage(usage: FakeUsage) -> dict[str, Any]:
        return {
            "prompt_tokens": usage.input,
            "completion_tokens": usage.output,
            "total_tokens": usage.input + usage.output,
            "prompt_tokens_details": {"cached_tokens": usage.cached},
        }

    @staticmethod
    def _chunk(chunk_id: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"id": chunk_id, "object": "chat.completion.chunk", "choices": [choice]}


def _event(name: str, payload: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"


class AnthropicKit:
    kind = "anthropic"
    path_suffix = "/messages"

    def stream(
        self,
        pieces: list[str],
        *,
        usage: FakeUsage | None = None,
        finish: bool = True,
        done: bool = True,
        chunk_id: str = "msg_fake",
        pause_after: int | None = None,
        pause_s: float = 0.0,
        cut: bool = False,
        headers: dict[str, str] | None = None,
        input_later: bool = False,
    ) -> Reply:
        """`input_later`: as LiteLLM relays it, message_start says input_tokens 0 and message_delta the real count."""
        start_usage = self.input_usage(usage) | {"output_tokens": 1} if usage else {}
        if input_later and usage:
            start_usage = {"input_tokens": 0, "output_tokens": 0}
        message = {"id": chunk_id, "type": "message", "role": "assistant", "content": [], "usage": start_usage}
        events: list[str | Pause] = [
            _event("message_start", {"type": "message_start", "message": message}),
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _event("ping", {"type": "ping"}),
        ]
        for index, piece in enumerate(pieces):
            delta = {"type": "text_delta", "text": piece}
            events.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
            if pause_after is not None and index + 1 == pause_after:
                events.append(Pause(pause_s))
        if finish:
            events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
            delta_usage = {"output_tokens": usage.output} if usage else {}
            if input_later and usage:
                delta_usage |= self.input_usage(usage)
            events.append(
                _event(
                    "message_delta",
                    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": delta_usage},
                )
            )
        if done:
            events.append(_event("message_stop", {"type": "message_stop"}))
        return sse_reply(events, cut=cut, headers=headers)

    def tool_stream(
        self,
        name: str,
        json_pieces: list[str],
        *,
        usage: FakeUsage | None = None,
        chunk_id: str = "msg_fake_tool",
        tool_id: str = "toolu_fake",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A forced tool call, streamed: a `tool_use` block whose input arrives as `input_json_delta` pieces."""
        start_usage = self.input_usage(usage) | {"output_tokens": 1} if usage else {}
        message = {"id": chunk_id, "type": "message", "role": "assistant", "content": [], "usage": start_usage}
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        events: list[str | Pause] = [
            _event("message_start", {"type": "message_start", "message": message}),
            _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            _event("ping", {"type": "ping"}),
        ]
        for piece in json_pieces:
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        delta_usage = {"output_tokens": usage.output} if usage else {}
        events.append(
            _event(
                "message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": delta_usage}
            )
        )
        events.append(_event("message_stop", {"type": "message_stop"}))
        return sse_reply(events, headers=headers)

    def tool_body(self, name: str, tool_input: dict[str, Any], usage: FakeUsage | None) -> dict[str, Any]:
        """A forced tool call as a plain JSON body: one `tool_use` block carrying the input object."""
        payload: dict[str, Any] = {
            "id": "msg_json_tool",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_json", "name": name, "input": tool_input}],
            "stop_reason": "tool_use",
        }
        if usage is not None:
            payload["usage"] = self.input_usage(usage) | {"output_tokens": usage.output}
        return payload

    def body(self, text: str, usage: FakeUsage | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": "msg_json",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
        }
        if usage is not None:
            payload["usage"] = self.input_usage(usage) | {"output_tokens": usage.output}
        return payload

    def error_in_stream(self, error_type: str, message: str, code: str | None = None) -> Reply:
        error = {"type": error_type, "message": message, **({"code": code} if code is not None else {})}
        return sse_reply([_event("error", {"type": "error", "error": error})])

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type, "message": message}}

    @staticmethod
    def input_usage(usage: FakeUsage) -> dict[str, int]:
        return {
            "input_tokens": usage.input - usage.cached,
            "cache_read_input_tokens": usage.cached,
            "cache_creation_input_tokens": 0,
        }


OPENAI = OpenAiKit()
ANTHROPIC = AnthropicKit()

# --- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float = 0.0  # time.monotonic() when the request was read

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedLlmServer:
    """A loopback HTTP server on 127.0.0.1 (random free port) answering from a script."""

    kit: OpenAiKit | AnthropicKit = OPENAI

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        # time.monotonic() when a client closed its connection before the reply ended (a cancelled call)
        self.disconnects: list[float] = []
        self._replies: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        return len(self._replies)

    def reset(self) -> None:
        """Forget the script and the recorded requests (between tests sharing one server)."""
        self._replies.clear()
        self.requests.clear()
        self.disconnects.clear()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> ScriptedLlmServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def default_reply(self) -> Reply:
        return self.kit.stream(["Hello ", "from ", "the fake."], usage=FakeUsage(input=10, output=4))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            if not request.path.endswith(self.kit.path_suffix):
                reply = status_reply(404, f"no route {request.path}")
            else:
                reply = self._replies.popleft() if self._replies else self.default_reply()
            await self._reply_unless_closed(reader, writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up (e.g. its read timeout fired): nothing left to do
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _reply_unless_closed(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> None:
        """Write the reply while watching the connection: a client sends nothing after its request, so
        end-of-file on the reader means it hung up; that moment is recorded in `disconnects`."""
        hangup = asyncio.ensure_future(reader.read(1))
        writing = asyncio.ensure_future(_write_reply(writer, reply))
        try:
            await asyncio.wait({hangup, writing}, return_when=asyncio.FIRST_COMPLETED)
            if hangup.done() and not writing.done():
                self.disconnects.append(time.monotonic())
                return
            try:
                await writing
            except ConnectionError:
                self.disconnects.append(time.monotonic())
        finally:
            for task in (hangup, writing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
                    await task


class OpenAiServer(ScriptedLlmServer):
    kit = OPENAI


class AnthropicServer(ScriptedLlmServer):
    kit = ANTHROPIC


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    request_line = await reader.readline()
    if not request_line:
        return None
    method, path, _ = request_line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method=method, path=path, headers=headers, body=body, received_at=time.monotonic())


async def _write_reply(writer: asyncio.StreamWriter, reply: Reply) -> None:
    head = [f"HTTP/1.1 {reply.status} Scripted", f"content-type: {reply.content_type}", "connection: close"]
    head += [f"{name}: {value}" for name, value in reply.headers.items()]
    if reply.chunks is None:
        head.append(f"content-length: {len(reply.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
        await writer.drain()
        return
    head.append("transfer-encoding: chunked")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    for chunk in reply.chunks:
        if isinstance(chunk, Pause):
            await asyncio.sleep(chunk.seconds)
            continue
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
    if not reply.cut:
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def unused_port() -> int:
    """A port nothing listens on (bound, then released), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ServerT = TypeVar("ServerT", bound=ScriptedLlmServer)


class ServerThread:
    """Scripted servers on an event loop of their own, in a daemon thread.

    Needed when the test's own loop is blocked while the code under test runs: litestar's
    AsyncTestClient calls the app through a blocking portal, so a server on the test's loop could
    never answer the app's request. `script()`, `reset()` and `requests` are safe to use from the
    test's thread between requests (deque and list operations are atomic).
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-loopback", daemon=True)
        self._servers: list[ScriptedLlmServer] = []

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for server in self._servers:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(server.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def start(self, server: ServerT) -> ServerT:
        asyncio.run_coroutine_threadsafe(server.start(), self._loop).result(timeout=10)
        self._servers.append(server)
        return server
