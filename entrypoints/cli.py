"""`pantheon [serve|migrate|admin create EMAIL]`: start the service (migrating first), just apply
migrations, or make an admin and print its new API key (entrypoints/admin_cli.py)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

from adapters.postgres.embedded import embedded_postgres, ensure_database
from adapters.postgres.schema import migrate
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings, SettingsError, load_settings

log = logging.getLogger("pantheon")
DATABASE_NAME = "pantheon"


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The external database when PANTHEON_DATABASE_URL is set, else an embedded one under PANTHEON_DATA_DIR."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(settings.data_dir) as admin_uri:
        yield ensure_database(admin_uri, DATABASE_NAME)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    import uvicorn

    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal with the handler it found:
    # this one turns it into SystemExit, so the embedded PostgreSQL is stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    from entrypoints.container import Container
    from entrypoints.http.app import create_app

    with database(settings) as url:
        applied = migrate(url)
        log.info("migrations applied", extra={"fields": {"applied": applied}})
        log.info(
            "serving", extra={"fields": {"url": f"http://{settings.host}:{settings.port}", "workers": settings.workers}}
        )
        common = {
            "host": settings.host,
            "port": settings.port,
            "log_config": None,
            "access_log": False,
            "timeout_graceful_shutdown": 10,
            "server_header": False,
            "http": "entrypoints.http.protocol:BoundedHttpToolsProtocol",
        }
        if settings.workers > 1:
            # Worker processes build their own app (and pool) from the environment; they share the database.
            os.environ["PANTHEON_DATABASE_URL"] = url
            uvicorn.run("entrypoints.asgi:app_from_env", factory=True, workers=settings.workers, **common)
        else:
            uvicorn.run(create_app(Container(settings=settings, database_url=url)), **common)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pantheon", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "admin"])
    parser.add_argument("args", nargs="*", help="admin: create EMAIL")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"pantheon: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "migrate":
        with database(settings) as url:
            applied = migrate(url)
        log.info("migrations applied", extra={"fields": {"applied": applied}})
        return 0
    if args.command == "admin":
        from entrypoints.admin_cli import run_admin

        with database(settings) as url:
            migrate(url)
            return run_admin(url, args.args, settings)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
