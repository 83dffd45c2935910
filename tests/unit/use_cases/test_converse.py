"""StartConversationTurn on in-memory fakes: which session a client that resends the whole conversation
continues, and what a refused first message leaves behind."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from adapters.memory.conversations import MemoryConversationStore
from application.use_cases.converse import ConversationTurn, Exchange, StartConversationTurn
from domain.errors import IdempotencyConflict, NotFound, NoValidTag, TurnInProgress
from domain.model import Mode
from domain.transcript import transcript
from tests.unit.use_cases.turn_world import TurnWorld


def converse(tw: TurnWorld) -> StartConversationTurn:
    conversations = MemoryConversationStore(tw.db)
    return StartConversationTurn(tw.rooms, tw.sessions, conversations, tw.turns, tw.send(), tw.clock, tw.ids)


async def say(
    tw: TurnWorld, user: UUID, room: UUID, earlier: list[Exchange], message: str, **kwargs: object
) -> tuple[ConversationTurn, str]:
    """One exchange run to its end: (where it ran, the answer as the client shows it)."""
    begun = await converse(tw).execute(user, room, earlier=earlier, message=message, **kwargs)  # type: ignore[arg-type]
    if begun.started.replay is not None:
        return begun, transcript(begun.started.replay.steps)
    assert begun.started.context is not None
    turn = await tw.send().run(begun.started.context)
    return begun, transcript(turn.steps)


async def a_room(tw: TurnWorld, *keys: str, mode: Mode = Mode.ROUNDTABLE) -> tuple[UUID, UUID]:
    user = await tw.new_user_id()
    room = await tw.new_room(user, mode=mode)
    for key in keys:
        await tw.new_agent(user, room.id, key)
    return user, room.id


def sessions_of(tw: TurnWorld, room: UUID) -> dict[UUID, int]:
    return {s.id: s.turn_count for s in tw.db.sessions.values() if s.room_id == room}


async def test_a_resent_conversation_goes_on_in_its_session(tw: TurnWorld) -> None:
    user, room = await a_room(tw, "ada", "bob")
    first, answer = await say(tw, user, room, [], "Plan?")
    history = [Exchange(user="Plan?", assistant=answer)]
    second, answer = await say(tw, user, room, history, "Why?")
    history.append(Exchange(user="Why?", assistant=answer))
    third, _ = await say(tw, user, room, history, "Who?")

    assert first.session_id == second.session_id == third.session_id
    assert sessions_of(tw, room) == {first.session_id: 3}


async def test_a_new_or_edited_conversation_starts_a_new_session(tw: TurnWorld) -> None:
    user, room = await a_room(tw, "ada")
    first, answer = await say(tw, user, room, [], "Plan?")
    again, _ = await say(tw, user, room, [], "Plan?")
    edited, _ = await say(tw, user, room, [Exchange(user="Plan??", assistant=answer)], "Why?")
    # The session holds one turn more than the client says: it went on elsewhere (a regenerated answer).
    regenerated, _ = await say(tw, user, room, [], "Plan?")

    assert len({first.session_id, again.session_id, edited.session_id, regenerated.session_id}) == 4


async def test_the_clients_copy_of_the_answer_picks_between_sessions_holding_the_same_messages(
    tw: TurnWorld,
) -> None:
    user, room = await a_room(tw, "ada")
    older, older_answer = await say(tw, user, room, [], "Plan?")
    newer, newer_answer = await say(tw, user, room, [], "Plan?")
    assert older_answer != newer_answer  # the scripted model numbers its calls

    went_on, _ = await say(tw, user, room, [Exchange(user="Plan?", assistant=f" {older_answer}\n")], "Why?")
    unknown, _ = await say(tw, user, room, [Exchange(user="Plan?", assistant="something else")], "Why?")

    assert went_on.session_id == older.session_id
    assert unknown.session_id == newer.session_id  # the same messages and no answer matches: the newest


async def test_a_refused_first_message_leaves_no_session_and_a_later_one_keeps_it(tw: TurnWorld) -> None:
    user, room = await a_room(tw, "ada", mode=Mode.MANUAL)
    with pytest.raises(NoValidTag):
        await say(tw, user, room, [], "no tag")
    assert sessions_of(tw, room) == {}

    first, answer = await say(tw, user, room, [], "@ada hi")
    with pytest.raises(NoValidTag):
        await say(tw, user, room, [Exchange(user="@ada hi", assistant=answer)], "still no tag")
    assert sessions_of(tw, room) == {first.session_id: 1}


async def test_a_named_session_must_be_the_callers_in_this_room(tw: TurnWorld) -> None:
    user, room = await a_room(tw, "ada")
    _, other_room = await a_room(tw, "ada")
    mine = await tw.new_session(user, room)
    elsewhere = await tw.new_room(user)

    named, _ = await say(tw, user, room, [Exchange(user="never said", assistant="x")], "Hi", session_id=mine.id)
    assert named.session_id == mine.id

    for room_id, session_id in ((elsewhere.id, mine.id), (room, uuid4()), (other_room, mine.id)):
        with pytest.raises(NotFound):
            await say(tw, user, room_id, [], "Hi", session_id=session_id)


async def test_a_retried_request_replays_its_turn_in_its_session(tw: TurnWorld) -> None:
    user, room = await a_room(tw, "ada")
    first, answer = await say(tw, user, room, [], "Once", idempotency_key="k-1")
    again, replayed = await say(tw, user, room, [], "Once", idempotency_key="k-1")

    assert again.session_id == first.session_id and again.started.replay is not None and replayed == answer
    assert sessions_of(tw, room) == {first.session_id: 1}
    elsewhere = await tw.new_room(user)  # the key's turn is in another room's session
    with pytest.raises(IdempotencyConflict):
        await converse(tw).execute(user, elsewhere.id, earlier=[], message="Once", idempotency_key="k-1")


async def test_another_users_room_is_not_found(tw: TurnWorld) -> None:
    _, room = await a_room(tw, "ada")
    stranger = await tw.new_user_id()
    with pytest.raises(NotFound):
        await say(tw, stranger, room, [], "Hi")


async def test_a_conversation_whose_session_went_on_meanwhile_is_a_conflict(tw: TurnWorld) -> None:
    user, room = await a_room(tw, "ada")
    first, answer = await say(tw, user, room, [], "Plan?")

    class Racing(MemoryConversationStore):
        """Another request of the same conversation lands between the lookup and the turn's start."""

        async def sessions_holding(self, owner_id: UUID, room_id: UUID, user_messages: list[str]) -> list[UUID]:
            found = await super().sessions_holding(owner_id, room_id, user_messages)
            started = await tw.send().start(owner_id, found[0], "Why?")
            assert started.context is not None
            await tw.send().run(started.context)
            return found

    racing = StartConversationTurn(tw.rooms, tw.sessions, Racing(tw.db), tw.turns, tw.send(), tw.clock, tw.ids)
    with pytest.raises(TurnInProgress):
        await racing.execute(user, room, earlier=[Exchange(user="Plan?", assistant=answer)], message="Why?")
    assert sessions_of(tw, room) == {first.session_id: 2}  # the message was not appended after the other


async def test_a_turn_index_the_session_is_not_at_is_refused(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    with pytest.raises(TurnInProgress):
        await tw.send().start(user, session, "@ada hi", turn_index=1)
    assert (await tw.send().start(user, session, "@ada hi", turn_index=0)).context is not None
