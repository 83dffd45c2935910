"""What the benchmark runs against: an embedded PostgreSQL, a fresh migrated database, a server subprocess."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from adapters.postgres.embedded import embedded_postgres, ensure_database, with_database
from adapters.postgres.schema import migrate

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".pantheon-bench"
DATABASE_NAME = "pantheon_bench"
# The server must see only the built-in catalog: the benchmark uses the `sim` alias alone.
SCRUBBED_ENV = ("PANTHEON_CONFIG", "OPENROUTER_API_KEY", "PANTHEON_DATA_DIR")


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def postgres(admin_uri: str | None) -> Iterator[str]:
    """The admin URI of the given server, else of an embedded one whose data lives in `.pantheon-bench/`."""
    if admin_uri:
        yield admin_uri
        return
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    ignore = DATA_DIR / ".gitignore"  # keeps the data dir out of `git status` without touching the root .gitignore
    if not ignore.exists():
        ignore.write_text("*\n")
    log(f"starting embedded PostgreSQL in {DATA_DIR.relative_to(ROOT)}/")
    try:
        with embedded_postgres(DATA_DIR) as uri:
            yield uri
    finally:
        log("embedded PostgreSQL stopped")


def fresh_database(admin_uri: str) -> str:
    """Drop and recreate `pantheon_bench`, migrate it; figures of successive runs start from the same state."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE_NAME)))
    url = ensure_database(admin_uri, DATABASE_NAME)
    migrate(url)
    return with_database(admin_uri, DATABASE_NAME)


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads) from /proc; None where there is no /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("pantheon")
    if script.exists():
        return [str(script), "serve"]
    found = shutil.which("pantheon")
    return [found, "serve"] if found else [sys.executable, "-m", "entrypoints.cli", "serve"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def source_tree(ref: str) -> Path:
    """The files of commit `ref` under .pantheon-bench/src-<ref>/ (git archive: the repository is untouched)."""
    target = DATA_DIR / f"src-{ref}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# The bench's one user runs thousands of turns, 16 at a time: wallets stay on (their cost is measured),
# but its limits are set out of the way so they never refuse a measured turn.
BENCH_LIMITS = {
    "PANTHEON_STARTING_CREDITS": "100000000",
    "PANTHEON_MAX_RUNNING_TURNS": "1000",
    "PANTHEON_RATE_LIMIT_PER_MINUTE": "0",
}


@contextlib.contextmanager
def server(
    database_url: str,
    *,
    config: str = "",
    startup_timeout_s: float = 90.0,
    src: Path | None = None,
    extra_env: dict[str, str] | None = None,
    name: str = "server",
) -> Iterator[tuple[str, int]]:
    """`pantheon serve` on a free port of 127.0.0.1, with `config` as its PANTHEON_CONFIG file when given
    and `extra_env` on top of its environment; yields (base URL, pid); stops it on exit, error or Ctrl-C.

    `src`: run the code of that source tree instead (an older commit, for before/after figures)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env |= BENCH_LIMITS | {
        "PANTHEON_DATABASE_URL": database_url,
        "PANTHEON_HOST": "127.0.0.1",
        "PANTHEON_PORT": str(port),
        "PANTHEON_LOG_LEVEL": "WARNING",
    }
    env |= extra_env or {}
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if config:
        (DATA_DIR / "pantheon.toml").write_text(config)
        env["PANTHEON_CONFIG"] = str(DATA_DIR / "pantheon.toml")
    log_path = DATA_DIR / f"{name}.log"
    command, cwd = _server_command(), ROOT
    if src is not None:
        command, cwd = [sys.executable, "-m", "entrypoints.cli", "serve"], src
        env["PYTHONPATH"] = str(src)
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as out:
        # Own session: a Ctrl-C reaches only the benchmark, which then stops the server itself.
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            log(f"{name} pid {proc.pid} starting on {base} (log: {log_path.relative_to(ROOT)})")
            wait_healthy(base, startup_timeout_s, proc, log_path)
            yield base, proc.pid
        finally:
            _stop(proc)
            log(f"{name} stopped")


def wait_healthy(
    base: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, log_path: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with httpx.Client(base_url=base, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = _tail(log_path) if log_path else ""
                raise RuntimeError(f"the server exited with code {proc.returncode} before it was healthy:\n{tail}")
            try:
                response = client.get("/healthz")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise RuntimeError(f"{base}/healthz did not answer 200 within {timeout_s:.0f} s ({last})")
