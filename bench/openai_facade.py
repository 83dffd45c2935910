"""Section 11: the OpenAI-compatible entrypoint's overhead over the native route, for the same turn.

Both cases run a 1-agent manual turn of `sim` in a fresh room, measured in alternation turn by turn:
- native: `POST /api/v1/sessions/{id}/turns` on sessions of `per_session` turns;
- facade: `POST /v1/chat/completions` as a stateless OpenAI client sends it — the whole conversation
  so far resent each time (so the server finds its session by the stored user messages), a new
  conversation every `per_session` turns, the answer rendered as one assistant message.
Plain HTTP through the same keep-alive httpx client, so the figures hold the server's cost, not an SDK's.

`python -m bench.openai_facade --url http://127.0.0.1:8000` runs this section alone against a server.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.cases import Case, measure
from bench.http_turns import Api, message
from bench.infra import log
from bench.stats import Sample, ratio

TARGET = 1.1  # facade p50 / native p50


@dataclass
class FacadeComparison:
    native: Sample
    facade: Sample

    @property
    def p50_ratio(self) -> float:
        return ratio(self.facade.p50, self.native.p50)

    @property
    def p95_ratio(self) -> float:
        return ratio(self.facade.p95, self.native.p95)


async def native_case(api: Api, *, warmup: int, n: int, per_session: int) -> Case:
    room_id = await api.room("manual", 1)
    total = warmup + n
    sessions = await api.sessions(room_id, -(-total // per_session))
    turns = iter(range(total))

    async def once() -> bool:
        i = next(turns)
        _, ok = await api.turn(sessions[i // per_session], message("manual", i))
        return ok

    sample = Sample("native POST /api/v1/sessions/{id}/turns", note=f"{per_session} turns a session")
    return Case(sample, once, warmup, n)


async def facade_case(api: Api, *, warmup: int, n: int, per_session: int) -> Case:
    room_id = await api.room("manual", 1)
    turns = iter(range(warmup + n))
    conversation: list[dict[str, Any]] = []

    async def once() -> bool:
        i = next(turns)
        if i % per_session == 0:
            conversation.clear()  # a new conversation: a new session
        conversation.append({"role": "user", "content": message("manual", i)})
        body = {"model": f"room-{room_id}", "messages": conversation}
        try:
            response = await api.client.post("/v1/chat/completions", json=body, headers=api.headers)
        except httpx.TransportError as exc:
            api.errors.append(f"{type(exc).__name__}: {exc}")
            return False
        if response.status_code != 200:
            api.errors.append(f"{response.status_code}: {response.text[:300]}")
            return False
        conversation.append({"role": "assistant", "content": response.json()["choices"][0]["message"]["content"]})
        return True

    note = f"the conversation resent, {per_session} exchanges a session"
    return Case(Sample("facade POST /v1/chat/completions", note=note), once, warmup, n)


async def compare(api: Api, *, warmup: int, n: int, per_session: int) -> FacadeComparison:
    """Both cases warmed up, then measured turn by turn in alternation: side by side, one run."""
    native = await native_case(api, warmup=warmup, n=n, per_session=per_session)
    facade = await facade_case(api, warmup=warmup, n=n, per_session=per_session)
    for case in (native, facade):
        for _ in range(case.warmup):
            await case.once()
    for _ in range(n):
        await measure(native, 1)
        await measure(facade, 1)
    return FacadeComparison(native.sample, facade.sample)


def report_lines(found: FacadeComparison | None) -> list[str]:
    if found is None:
        return []
    rows = []
    for sample in (found.native, found.facade):
        rows.append(f"| {sample.label} | {sample.n} | {sample.p50:.2f} | {sample.p95:.2f} | {sample.note} |")
    p50, p95 = found.p50_ratio, found.p95_ratio
    verdict = "not measured" if math.isnan(p50) else ("met" if p50 <= TARGET else "NOT met")
    return [
        "",
        "Section 11, the OpenAI-compatible facade vs the native route, the same 1-agent manual `sim` turn "
        "(measured in alternation, one run):",
        "",
        "| route | n | p50 ms | p95 ms | note |",
        "|---|--:|--:|--:|---|",
        *rows,
        "",
        f"Facade / native: p50 {p50:.3f}x, p95 {p95:.3f}x (target p50 <= {TARGET}x -> {verdict}; "
        f"errors: native {found.native.errors}, facade {found.facade.errors}).",
    ]


async def _alone(url: str, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        api = Api(client)
        await api.sign_up()
        started = time.perf_counter()
        found = await compare(api, warmup=max(3, n // 10), n=n, per_session=10)
        log(f"section 11 took {time.perf_counter() - started:.1f} s")
        print("\n".join(report_lines(found)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.openai_facade", description=__doc__)
    parser.add_argument("--url", required=True, help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("-n", type=int, default=150, help="measured turns per route")
    args = parser.parse_args()
    asyncio.run(_alone(args.url.rstrip("/"), args.n))


if __name__ == "__main__":
    main()
