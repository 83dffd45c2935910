"""Finding the session a stateless client's conversation continues (the OpenAI-compatible entrypoint)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class ConversationStore(Protocol):
    async def sessions_holding(self, owner_id: UUID, room_id: UUID, user_messages: list[str]) -> list[UUID]:
        """The owner's sessions of the live room whose turns carry exactly `user_messages`, in turn
        order, and no other turn; newest first, at most 10. An indexed lookup on the last message, so
        its cost does not grow with the number of sessions."""
        ...

    async def discard_unused_session(self, owner_id: UUID, session_id: UUID) -> None:
        """Delete the owner's session if it holds no turn (opened for a message that was then
        refused); a session with a turn is left as it is."""
        ...
