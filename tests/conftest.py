"""Test databases: one embedded PostgreSQL per run, one migrated template, one clone per test module.

Set PANTHEON_TEST_DATABASE_URL to an admin URL of an external server to use that instead.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from adapters.postgres.embedded import embedded_postgres, with_database
from adapters.postgres.pool import make_pool
from adapters.postgres.schema import migrate

ROOT = Path(__file__).resolve().parents[1]
# One template per pytest process, so two runs sharing the embedded server never collide.
TEMPLATE = f"pantheon_template_{os.getpid()}"


def _admin(admin_uri: str, statement: sql.Composable) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def pg_admin_uri() -> Iterator[str]:
    external = os.environ.get("PANTHEON_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with embedded_postgres(ROOT / ".pantheon-test") as uri:
        yield uri


@pytest.fixture(scope="session")
def template_db(pg_admin_uri: str) -> Iterator[str]:
    """Migrated once per run; modules clone it (CREATE DATABASE ... TEMPLATE), which takes milliseconds."""
    _admin(pg_admin_uri, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
    _admin(pg_admin_uri, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    migrate(with_database(pg_admin_uri, TEMPLATE))
    yield TEMPLATE
    drop_database(pg_admin_uri, TEMPLATE)


def clone_database(pg_admin_uri: str, template: str, label: str) -> str:
    name = f"t_{re.sub(r'[^a-z0-9]', '_', label.lower())[-40:]}_{uuid.uuid4().hex[:8]}"
    _admin(
        pg_admin_uri, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    )
    return name


def drop_database(pg_admin_uri: str, name: str) -> None:
    _admin(pg_admin_uri, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def database_url(request: pytest.FixtureRequest, pg_admin_uri: str, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test module."""
    name = clone_database(pg_admin_uri, template_db, request.module.__name__)
    yield with_database(pg_admin_uri, name)
    drop_database(pg_admin_uri, name)


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[object]:
    p = make_pool(database_url, min_size=1, max_size=10)
    await p.open(wait=True)
    yield p
    await p.close()
