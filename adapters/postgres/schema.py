"""Applying and rolling back the schema: yoyo migrations, then LangGraph's checkpoint tables."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def yoyo_url(database_url: str) -> str:
    """yoyo needs the psycopg 3 scheme; plain postgresql:// would mean psycopg2 to it."""
    scheme, _, rest = database_url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def apply_migrations(database_url: str) -> int:
    """Apply pending migrations; returns how many were applied."""
    backend = get_backend(yoyo_url(database_url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return len(pending)
    finally:
        backend.connection.close()


def rollback_migrations(database_url: str) -> int:
    backend = get_backend(yoyo_url(database_url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            applied = backend.to_rollback(migrations)
            backend.rollback_migrations(applied)
        return len(applied)
    finally:
        backend.connection.close()


async def setup_checkpointer(database_url: str) -> None:
    """Create LangGraph's checkpoint tables now, never lazily in a request."""
    async with AsyncPostgresSaver.from_conn_string(database_url) as saver:
        await saver.setup()


def migrate(database_url: str) -> int:
    applied = apply_migrations(database_url)
    asyncio.run(setup_checkpointer(database_url))
    return applied
