"""`GET …/turns?order=desc`: a long session's latest turns first, older pages on demand (the web page's history)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session


async def all_pages(client: AsyncTestClient, path: str, headers: dict[str, str], **params: Any) -> list[list[int]]:
    found, cursor = [], None
    while True:
        body = (
            await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        ).json()
        found.append([t["turn_index"] for t in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_newest_first_pages_reach_back_without_gaps_or_repeats(client: AsyncTestClient) -> None:
    headers = await auth_headers(client)
    room = await create_room(client, headers)
    await add_agent(client, headers, room["id"], "ada")
    session = (await open_session(client, headers, room["id"]))["id"]
    path = f"{API}/sessions/{session}/turns"
    assert (await client.get(path, params={"order": "desc"}, headers=headers)).json() == {
        "items": [],
        "next_cursor": None,
    }
    for i in range(7):
        sent = await client.post(path, json={"message": f"@ada turn {i}"}, headers=headers)
        assert sent.status_code == 201

    assert await all_pages(client, path, headers, order="desc", limit=3) == [[6, 5, 4], [3, 2, 1], [0]]
    assert await all_pages(client, path, headers, order="desc", limit=7) == [[6, 5, 4, 3, 2, 1, 0]]
    assert await all_pages(client, path, headers, order="asc", limit=4) == [[0, 1, 2, 3], [4, 5, 6]]
    newest = (await client.get(path, params={"order": "desc", "limit": 1}, headers=headers)).json()["items"][0]
    assert newest["user_message"] == "@ada turn 6" and newest["steps"][0]["agent_key"] == "ada"


async def test_an_unknown_order_is_a_validation_error(client: AsyncTestClient) -> None:
    headers = await auth_headers(client)
    room = await create_room(client, headers)
    session = (await open_session(client, headers, room["id"]))["id"]
    response = await client.get(f"{API}/sessions/{session}/turns", params={"order": "newest"}, headers=headers)
    assert_error(response, 422, "validation_error")
