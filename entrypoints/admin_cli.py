"""`pantheon admin create EMAIL`: make that user an admin (creating it if need be) and print a new API
key once, alone on the last line of standard output. It talks to the database directly, so it works
while servers run (a server that cached the user's old role sees the new one within 30 s)."""

from __future__ import annotations

import asyncio

from adapters.postgres.admin import PostgresAdminStore
from adapters.postgres.pool import make_pool
from adapters.system import RandomIds, SystemClock
from application.use_cases.admin import PromoteAdmin
from domain.errors import DomainError
from entrypoints.settings import Settings

USAGE = "usage: pantheon admin create EMAIL"


async def create_admin(database_url: str, email: str, settings: Settings) -> tuple[str, bool]:
    pool = make_pool(database_url, min_size=1, max_size=1)
    await pool.open(wait=True, timeout=30)
    try:
        promote = PromoteAdmin(
            PostgresAdminStore(pool), SystemClock(), RandomIds(), starting_credits=settings.starting_credits
        )
        return await promote.execute(email)
    finally:
        await pool.close()


def run_admin(database_url: str, args: list[str], settings: Settings) -> int:
    if len(args) != 2 or args[0] != "create":
        print(USAGE)
        return 2
    try:
        key, created = asyncio.run(create_admin(database_url, args[1], settings))
    except DomainError as exc:
        print(f"pantheon admin: {exc.detail}")
        return 2
    print(f"{'Created' if created else 'Promoted'} admin {args[1].strip()}. Its new API key, shown once:")
    print(key)
    return 0
