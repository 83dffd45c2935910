"""The server refuses to start without what a resumable turn needs, and says why."""

from __future__ import annotations

import psycopg
import pytest

from adapters.postgres.checkpointer import CheckpointerUnavailable
from entrypoints.container import Container, init_resources, shutdown_resources
from entrypoints.settings import Settings


async def test_no_silent_fallback_when_checkpoint_tables_are_missing(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE checkpoints RENAME TO checkpoints_hidden")
    container = Container(settings=Settings(database_url=database_url), database_url=database_url)
    try:
        with pytest.raises(CheckpointerUnavailable, match="pantheon migrate"):
            await init_resources(container)
        assert not container.pool.initialized  # what had opened was closed again
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE checkpoints_hidden RENAME TO checkpoints")


async def test_starts_when_the_schema_is_complete(database_url: str) -> None:
    container = Container(settings=Settings(database_url=database_url), database_url=database_url)
    await init_resources(container)
    try:
        assert type(container.checkpointer()).__name__ == "AsyncPostgresSaver"
    finally:
        await shutdown_resources(container)
