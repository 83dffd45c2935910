"""Every migration applies to an empty database, rolls back cleanly, and applies again."""

from __future__ import annotations

import itertools
from pathlib import Path

import psycopg
import pytest

from adapters.postgres.embedded import with_database
from adapters.postgres.schema import apply_migrations, rollback_migrations
from tests.conftest import ROOT, clone_database, drop_database

EXPECTED_TABLES = {
    "users",
    "api_keys",
    "rooms",
    "agents",
    "sessions",
    "turns",
    "turn_steps",
    "turn_events",
    "llm_call_intents",
    "llm_call_events",
    "pricing_versions",
    "model_pricing",
    "session_summaries",
    "turn_context_audit",
    "wallets",
    "credit_transactions",
    "credit_reservations",
    "admin_audit",
}
MIGRATIONS = len(list((Path(__file__).resolve().parents[2] / "migrations").glob("*.rollback.sql")))


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows if not r[0].startswith(("_yoyo", "yoyo"))}


@pytest.fixture
def empty_url(pg_admin_uri: str):
    name = clone_database(pg_admin_uri, "template0", "empty")
    yield with_database(pg_admin_uri, name)
    drop_database(pg_admin_uri, name)


MIGRATIONS = len([p for p in (ROOT / "migrations").glob("*.sql") if not p.name.endswith(".rollback.sql")])


def test_every_migration_has_its_rollback() -> None:
    names = {p.name for p in (ROOT / "migrations").glob("*.sql")}
    assert MIGRATIONS >= 6
    assert all(n.replace(".sql", ".rollback.sql") in names for n in names if not n.endswith(".rollback.sql"))


def test_apply_rollback_apply(empty_url: str) -> None:
    assert apply_migrations(empty_url) == MIGRATIONS
    assert EXPECTED_TABLES <= tables(empty_url)
    assert rollback_migrations(empty_url) == MIGRATIONS
    assert tables(empty_url) & EXPECTED_TABLES == set()
    assert apply_migrations(empty_url) == MIGRATIONS
    assert EXPECTED_TABLES <= tables(empty_url)
    assert apply_migrations(empty_url) == 0


def test_seeded_pricing_version(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        version = conn.execute(
            "SELECT fresh_input_weight, cached_input_weight, output_weight, oe_tokens_per_credit,"
            " multiplier_floor, default_multiplier FROM pricing_versions"
            " WHERE version = '2026-02-20'"
        ).fetchone()
        multipliers = dict(
            conn.execute("SELECT alias, multiplier FROM model_pricing WHERE version = '2026-02-20'").fetchall()
        )
    assert [str(v) for v in version] == ["0.3500", "0.1000", "1.0000", "10000.0000", "0.5000", "1.0000"]
    assert str(multipliers["claude-opus"]) == "30.0000"
    assert str(multipliers["llama"]) == "0.5000"
    assert str(multipliers["sim"]) == "1.0000"


def test_published_prices_are_immutable(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("UPDATE model_pricing SET multiplier = 0 WHERE alias = 'sim'")
        conn.rollback()
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("DELETE FROM pricing_versions")


def test_checkpointer_tables_exist(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        names = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes"} <= names


def test_the_migrations_form_one_chain_in_number_order() -> None:
    """Each migration depends on the one numbered before it, so every database applies (and rolls back)
    them in the same order."""
    names = sorted(p.stem for p in (ROOT / "migrations").glob("*.sql") if not p.name.endswith(".rollback.sql"))
    for before, after in itertools.pairwise(names):
        header = (ROOT / "migrations" / f"{after}.sql").read_text()
        assert f"-- depends: {before}\n" in header, after
