"""Sign-up and authentication on the in-memory user store."""

from __future__ import annotations

from uuid import UUID

import pytest

from adapters.memory.system import START
from application.use_cases.users import Authenticate
from domain.api_keys import hash_api_key
from domain.errors import EmailTaken, Forbidden, Unauthorized
from tests.unit.use_cases.conftest import World


async def test_open_sign_up_creates_the_user_and_returns_a_key_that_authenticates(world: World) -> None:
    registration = await world.register().execute("  ada@example.com ", "Ada")

    assert registration.user.id == UUID(int=1)
    assert registration.user.email == "ada@example.com"
    assert registration.user.display_name == "Ada"
    assert registration.user.created_at == START
    assert await Authenticate(world.users).execute(registration.api_key) == registration.user


async def test_the_key_is_stored_only_as_its_hash(world: World) -> None:
    registration = await world.register().execute("ada@example.com", None)

    assert list(world.db.keys) == [hash_api_key(registration.api_key)]
    assert registration.api_key.encode() not in world.db.keys


async def test_every_sign_up_gets_a_different_long_random_key(world: World) -> None:
    first = await world.register().execute("a@example.com", None)
    second = await world.register().execute("b@example.com", None)

    assert first.api_key != second.api_key
    assert len(first.api_key.removeprefix("pk_")) * 6 >= 128  # url-safe base64: 6 bits per character


async def test_closed_sign_up_is_forbidden_and_stores_nothing(world: World) -> None:
    with pytest.raises(Forbidden):
        await world.register(open_signup=False).execute("ada@example.com", None)

    assert world.db.users == {}
    assert world.db.keys == {}


async def test_an_e_mail_can_sign_up_once_whatever_its_case(world: World) -> None:
    await world.register().execute("ada@example.com", None)

    with pytest.raises(EmailTaken):
        await world.register().execute("ADA@Example.COM", None)
    assert len(world.db.users) == 1


@pytest.mark.parametrize("api_key", ["pk_not-a-key-we-issued", "", None])
async def test_a_wrong_or_missing_key_is_unauthorized(world: World, api_key: str | None) -> None:
    await world.register().execute("ada@example.com", None)

    with pytest.raises(Unauthorized):
        await Authenticate(world.users).execute(api_key)
