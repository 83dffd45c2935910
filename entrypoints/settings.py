"""Runtime configuration, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec

from domain.wallet import DEFAULT_STARTING_CREDITS

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    pass


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    data_dir: Path = Path(".pantheon")
    config_path: str | None = None
    open_signup: bool = True
    log_level: str = "INFO"
    # A turn still `running` whose heartbeat is older than this is taken over by a starting server:
    # resumed when younger than `turn_abandon_after_s`, else marked failed.
    turn_stale_after_s: float = 30.0
    turn_abandon_after_s: float = 3600.0
    sim_slow_chunk_delay_s: float = 0.15
    # LangGraph durability of a turn's graph run; see adapters/langgraph/runner.py.
    turn_durability: str = "exit"
    # The longest any event stream stays open (a safety net far beyond any turn's length).
    stream_max_s: float = 21600.0
    # A reader whose unsent events exceed this many bytes (of their JSON) is cut (application/feeds.py).
    stream_backlog_bytes: int = 1024 * 1024
    db_pool_max: int = 20
    max_agents_per_room: int = 32
    # The manager alias of orchestrated rooms that name none.
    manager_model: str = "sim"
    # The alias that writes session summaries.
    summary_model: str = "sim"
    # The longest a request waits for a free database connection before it is answered 503.
    db_pool_wait_s: float = 2.0
    # How long a running turn waits for an unavailable database before leaving the turn to recovery.
    turn_db_patience_s: float = 120.0
    workers: int = 1
    # Wallets (docs/http-api.md, Credits and Limits).
    starting_credits: Decimal = DEFAULT_STARTING_CREDITS
    max_running_turns: int = 4
    rate_limit_per_minute: int = 600  # per user and server process; 0 switches it off
    # false: no reservations and no debits — only for the bench's comparison of what wallets cost.
    wallets: bool = True


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _number(name: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None


DURABILITIES = ("exit", "async", "sync")


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return value


def _credits(name: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise SettingsError(f"{name} must be a decimal number of credits, not {raw!r}") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.0001")):
        raise SettingsError(f"{name} must be 0 or more, with at most 4 decimal places, not {raw!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    get = env.get
    return Settings(
        host=get("PANTHEON_HOST", "127.0.0.1"),
        port=int(_number("PANTHEON_PORT", get("PANTHEON_PORT", "8000"), int)),
        database_url=get("PANTHEON_DATABASE_URL") or None,
        data_dir=Path(get("PANTHEON_DATA_DIR", ".pantheon")),
        config_path=get("PANTHEON_CONFIG") or None,
        open_signup=_flag("PANTHEON_OPEN_SIGNUP", get("PANTHEON_OPEN_SIGNUP", "true")),
        log_level=get("PANTHEON_LOG_LEVEL", "INFO").upper(),
        turn_stale_after_s=_number("PANTHEON_TURN_STALE_AFTER_S", get("PANTHEON_TURN_STALE_AFTER_S", "30"), float),
        turn_abandon_after_s=_number(
            "PANTHEON_TURN_ABANDON_AFTER_S", get("PANTHEON_TURN_ABANDON_AFTER_S", "3600"), float
        ),
        sim_slow_chunk_delay_s=_number(
            "PANTHEON_SIM_SLOW_CHUNK_DELAY_S", get("PANTHEON_SIM_SLOW_CHUNK_DELAY_S", "0.15"), float
        ),
        stream_max_s=_number("PANTHEON_STREAM_MAX_S", get("PANTHEON_STREAM_MAX_S", "21600"), float),
        stream_backlog_bytes=int(
            _number("PANTHEON_STREAM_BACKLOG_BYTES", get("PANTHEON_STREAM_BACKLOG_BYTES", "1048576"), int)
        ),
        manager_model=get("PANTHEON_MANAGER_MODEL", "sim").strip() or "sim",
        summary_model=get("PANTHEON_SUMMARY_MODEL", "sim").strip() or "sim",
        max_agents_per_room=int(
            _number("PANTHEON_MAX_AGENTS_PER_ROOM", get("PANTHEON_MAX_AGENTS_PER_ROOM", "32"), int)
        ),
        db_pool_max=int(_number("PANTHEON_DB_POOL_MAX", get("PANTHEON_DB_POOL_MAX", "20"), int)),
        db_pool_wait_s=_number("PANTHEON_DB_POOL_WAIT_S", get("PANTHEON_DB_POOL_WAIT_S", "2"), float),
        turn_db_patience_s=_number("PANTHEON_TURN_DB_PATIENCE_S", get("PANTHEON_TURN_DB_PATIENCE_S", "120"), float),
        workers=max(1, int(_number("PANTHEON_WORKERS", get("PANTHEON_WORKERS", "1"), int))),
        starting_credits=_credits("PANTHEON_STARTING_CREDITS", get("PANTHEON_STARTING_CREDITS", "100")),
        max_running_turns=int(_number("PANTHEON_MAX_RUNNING_TURNS", get("PANTHEON_MAX_RUNNING_TURNS", "4"), int)),
        rate_limit_per_minute=int(
            _number("PANTHEON_RATE_LIMIT_PER_MINUTE", get("PANTHEON_RATE_LIMIT_PER_MINUTE", "600"), int)
        ),
        wallets=_flag("PANTHEON_WALLETS", get("PANTHEON_WALLETS", "true")),
        turn_durability=_choice("PANTHEON_TURN_DURABILITY", get("PANTHEON_TURN_DURABILITY", "exit"), DURABILITIES),
    )
