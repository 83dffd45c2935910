"""uvicorn's httptools protocol with a bound on the size of a request's head (request line + headers).

Without one, a single request with a 64 MiB header (no key needed, any route) cost seconds of CPU
while the parser accumulated it, and froze the server meanwhile. Here a head that has not ended
within MAX_HEAD_BYTES is answered 431 and the connection closed, before the parser sees the excess
and before anything of the application runs.
"""

from __future__ import annotations

import uuid

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 32 * 1024
_END_OF_HEAD = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._head_bytes = 0
        self._head_tail = b""  # the last bytes of the head so far, for a terminator split across reads
        self._in_head = True

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._head_bytes + len(data) > MAX_HEAD_BYTES:
            allowed = data[: MAX_HEAD_BYTES - self._head_bytes + len(_END_OF_HEAD)]
            if _END_OF_HEAD not in self._head_tail + allowed:
                self._refuse_head()
                return
        if self._in_head:
            self._head_bytes += len(data)
            self._head_tail = (self._head_tail + data)[-(len(_END_OF_HEAD) - 1) :]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._head_tail = True, 0, b""

    def _refuse_head(self) -> None:
        body = msgspec.json.encode(
            {
                "status": 431,
                "code": "headers_too_large",
                "detail": f"The request line and headers must fit in {MAX_HEAD_BYTES // 1024} KiB.",
            }
        )
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"x-request-id: " + uuid.uuid4().hex.encode() + b"\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"cache-control: no-store\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()
        self._in_head = False  # whatever else arrives on this connection is ignored
        self.parser = _Discard()  # type: ignore[assignment]


class _Discard:
    def feed_data(self, data: bytes) -> None:
        return None
