"""Process caches, as decorators of the ports they speed up (wired in entrypoints/container.py).

Each wraps any implementation of its port and keeps only what cannot go stale, or expires it quickly,
so several server processes sharing one database never disagree for long:
- API keys seen recently (KEY_TTL_S): a request authenticates without a query.
- Pricing versions: immutable once published, kept for the process's life; which one is in force is
  kept ACTIVE_TTL_S (another process's publication shows up within that delay).
- A session's recent history: earlier turns of a session are finished and never change, so each new
  turn reads only the turns that came since the last one this process saw.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from application.ports.pricing import PricingStore
from application.ports.turns import HistoryStore, HistoryTurn
from application.ports.users import UserStore
from application.steps import HISTORY_TURNS
from domain.model import User
from domain.pricing import PricingVersion
from domain.wallet import ZERO

KEY_TTL_S = 30.0
KEY_CACHE_SIZE = 10_000
ACTIVE_TTL_S = 2.0
HISTORY_SESSIONS = 1000
# Turns of history kept per session: exactly what a turn reads, so that its read is always served here.
HISTORY_KEEP = HISTORY_TURNS


class CachedUserStore:
    """Keys cannot be revoked through the API yet; when they can, revocation must clear this cache (or
    take effect within KEY_TTL_S on other processes), as suspension does (`forget_user`)."""

    def __init__(self, inner: UserStore) -> None:
        self._inner = inner
        self._recent: dict[bytes, tuple[float, User]] = {}

    async def create_user(self, user: User, key_hash: bytes, starting_credits: Decimal = ZERO) -> None:
        await self._inner.create_user(user, key_hash, starting_credits)

    async def forget_user(self, user_id: UUID) -> None:
        """This process stops trusting what it cached of the user at once; others within KEY_TTL_S."""
        self._recent = {k: v for k, v in self._recent.items() if v[1].id != user_id}
        await self._inner.forget_user(user_id)

    async def user_for_key(self, key_hash: bytes) -> User | None:
        now = time.monotonic()
        hit = self._recent.get(key_hash)
        if hit is not None and now - hit[0] < KEY_TTL_S:
            return hit[1]
        user = await self._inner.user_for_key(key_hash)
        if user is None:
            return None  # unknown keys are never cached: a guess costs a query, not memory
        if len(self._recent) >= KEY_CACHE_SIZE:
            self._recent.clear()
        self._recent[key_hash] = (now, user)
        return user


class CachedPricingStore:
    def __init__(self, inner: PricingStore) -> None:
        self._inner = inner
        self._versions: dict[str, PricingVersion] = {}
        self._active: tuple[float, PricingVersion] | None = None

    async def active_version(self) -> PricingVersion:
        now = time.monotonic()
        if self._active is not None and now - self._active[0] < ACTIVE_TTL_S:
            return self._active[1]
        active = await self._inner.active_version()
        self._active = (now, active)
        self._versions[active.version] = active
        return active

    async def pricing_version(self, version: str) -> PricingVersion | None:
        if version not in self._versions:
            found = await self._inner.pricing_version(version)
            if found is None:
                return None
            self._versions[version] = found
        return self._versions[version]

    async def pricing_versions(self) -> list[PricingVersion]:
        return await self._inner.pricing_versions()

    async def publish_version(self, version: PricingVersion, *, replacing: str) -> bool:
        published = await self._inner.publish_version(version, replacing=replacing)
        if published:
            self._active = None  # the new version is in force from now on
        return published


@dataclass
class _Recent:
    turns: list[HistoryTurn]  # newest first, at most HISTORY_KEEP
    through: int  # complete for every turn before this index


class CachedHistoryStore:
    def __init__(self, inner: HistoryStore) -> None:
        self._inner = inner
        self._sessions: OrderedDict[UUID, _Recent] = OrderedDict()

    async def recent(
        self, session_id: UUID, *, before_index: int, limit: int, after_index: int = -1
    ) -> list[HistoryTurn]:
        if after_index != -1 or limit > HISTORY_KEEP:
            return await self._inner.recent(session_id, before_index=before_index, limit=limit, after_index=after_index)
        known = self._sessions.get(session_id)
        if known is not None and known.through == before_index:
            self._sessions.move_to_end(session_id)
            return known.turns[:limit]
        if known is not None and known.through < before_index:  # read only the turns that came since
            newer = await self._inner.recent(
                session_id, before_index=before_index, limit=HISTORY_KEEP, after_index=known.through - 1
            )
            turns = (newer + known.turns)[:HISTORY_KEEP]
        else:  # first sight, or an older turn (resumed after a crash): read it whole
            turns = await self._inner.recent(session_id, before_index=before_index, limit=HISTORY_KEEP)
        if known is None or known.through <= before_index:
            self._sessions[session_id] = _Recent(turns=turns, through=before_index)
            self._sessions.move_to_end(session_id)
            if len(self._sessions) > HISTORY_SESSIONS:
                self._sessions.popitem(last=False)
        return turns[:limit]
