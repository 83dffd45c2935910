"""The dependency-injector container: the only module that names concrete adapters."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator

from dependency_injector import containers, providers
from psycopg_pool import AsyncConnectionPool

from adapters.caching import CachedHistoryStore, CachedPricingStore, CachedUserStore
from adapters.langgraph.runner import Durability, LangGraphTurnRunner
from adapters.llm.catalog import Catalog, CatalogError, load_catalog
from adapters.llm.router import LlmRouter, build_llm_clients
from adapters.polling_stops import PollingStopWatch
from adapters.postgres.admin import PostgresAdminStore
from adapters.postgres.agents import PostgresAgentStore
from adapters.postgres.checkpointer import open_checkpointer, prune_finished_threads
from adapters.postgres.conversations import PostgresConversationStore
from adapters.postgres.events import PostgresTurnEventStore
from adapters.postgres.health import DatabaseHealth
from adapters.postgres.ledger import PostgresUsageLedger
from adapters.postgres.memory import PostgresSummaryStore
from adapters.postgres.pool import make_pool
from adapters.postgres.pricing import PostgresPricingStore
from adapters.postgres.rooms import PostgresRoomStore
from adapters.postgres.sessions import PostgresSessionStore
from adapters.postgres.signals import PostgresTurnEventSignals
from adapters.postgres.steps import PostgresStepRecorder
from adapters.postgres.stops import PostgresStopStore
from adapters.postgres.turns import PostgresHistoryStore, PostgresTurnStore
from adapters.postgres.users import PostgresUserStore
from adapters.postgres.wallet import PostgresWalletStore
from adapters.rate_limit import TokenBucketLimiter
from adapters.system import RandomIds, SystemClock
from application.feeds import TurnFeeds
from application.patience import Patience
from application.use_cases import admin, agents, rooms, sessions, turn_events, turns, usage, users, wallet
from application.use_cases import catalog as catalog_uc
from application.use_cases import memory as memory_uc
from application.use_cases.converse import StartConversationTurn
from application.use_cases.execute_step import ExecuteStep
from application.use_cases.publish_prices import PublishPrices
from application.use_cases.recover_turns import RecoverTurns
from application.use_cases.remember_session import RememberSession
from application.use_cases.run_turn import RunTurn
from application.use_cases.send_message import SendMessage
from application.use_cases.stop_turn import StopTurn
from application.use_cases.supervise_turns import SuperviseTurns
from entrypoints.settings import Settings


async def open_pool(database_url: str, max_size: int, wait_s: float) -> AsyncIterator[AsyncConnectionPool]:
    pool = make_pool(database_url, max_size=max_size, wait_s=wait_s)
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


async def open_turn_signals(database_url: str) -> AsyncIterator[PostgresTurnEventSignals]:
    signals = PostgresTurnEventSignals(database_url)
    await signals.open()
    try:
        yield signals
    finally:
        await signals.close()


def configured_alias(catalog: Catalog, alias: str, setting: str) -> str:
    """A model alias named by a setting, checked against the catalog when the app starts (not at a first turn)."""
    if catalog.spec(alias) is None:
        known = ", ".join(spec.alias for spec in catalog.specs())
        raise CatalogError(f"{setting}: unknown model alias {alias!r}; configured aliases: {known}")
    return alias


def manager_alias(catalog: Catalog, alias: str) -> str:
    return configured_alias(catalog, alias, "PANTHEON_MANAGER_MODEL")


def summary_alias(catalog: Catalog, alias: str) -> str:
    return configured_alias(catalog, alias, "PANTHEON_SUMMARY_MODEL")


async def open_llm(catalog: Catalog, sim_slow_chunk_delay_s: float) -> AsyncIterator[LlmRouter]:
    router, http_clients = build_llm_clients(catalog, sim_slow_chunk_delay_s=sim_slow_chunk_delay_s)
    try:
        yield router
    finally:
        for client in http_clients:
            await client.aclose()


async def open_runner(
    checkpointer: object, durability: Durability, pool: AsyncConnectionPool
) -> AsyncIterator[LangGraphTurnRunner]:
    runner = LangGraphTurnRunner(
        checkpointer,  # type: ignore[arg-type]
        durability=durability,
        forget=functools.partial(prune_finished_threads, pool),
    )
    try:
        yield runner
    finally:
        await runner.close()


RESOURCES = ("pool", "turn_signals", "llm", "checkpointer", "runner")  # opening order; closed in reverse


async def init_resources(container: Container) -> None:
    """Open every Resource in order, then let providers hand out plain objects instead of awaitables.

    If one cannot open (say the checkpointer finds no tables), the ones already open are closed and
    the original error propagates: the server does not start, and says why.
    """
    opened: list[providers.Resource] = []
    try:
        for name in RESOURCES:
            resource = getattr(container, name)
            await resource.init()
            opened.append(resource)
    except BaseException:
        for resource in reversed(opened):
            await resource.shutdown()
        raise
    for resource in container.traverse(types=[providers.Resource]):
        resource.disable_async_mode()


async def shutdown_resources(container: Container) -> None:
    for name in reversed(RESOURCES):
        resource = getattr(container, name)
        if resource.initialized:
            resource.enable_async_mode()
            await resource.shutdown()


class Container(containers.DeclarativeContainer):
    # Use cases hold no state of their own, so one instance each serves every request; the caches are
    # decorators around the stores they speed up (adapters/caching.py).
    settings = providers.Dependency(instance_of=Settings)
    database_url = providers.Dependency(instance_of=str)

    pool = providers.Resource(open_pool, database_url, settings.provided.db_pool_max, settings.provided.db_pool_wait_s)
    db_health = providers.Singleton(DatabaseHealth, pool)
    turn_signals = providers.Resource(open_turn_signals, database_url)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    catalog = providers.Singleton(load_catalog, settings.provided.config_path, providers.Object(os.environ))
    manager_model = providers.Singleton(manager_alias, catalog, settings.provided.manager_model)
    summary_model = providers.Singleton(summary_alias, catalog, settings.provided.summary_model)

    user_store = providers.Singleton(CachedUserStore, providers.Singleton(PostgresUserStore, pool))
    room_store = providers.Singleton(PostgresRoomStore, pool)
    agent_store = providers.Singleton(PostgresAgentStore, pool)
    session_store = providers.Singleton(PostgresSessionStore, pool)
    pricing_store = providers.Singleton(CachedPricingStore, providers.Singleton(PostgresPricingStore, pool))
    turn_store = providers.Singleton(PostgresTurnStore, pool)
    history_store = providers.Singleton(CachedHistoryStore, providers.Singleton(PostgresHistoryStore, pool))
    step_recorder = providers.Singleton(PostgresStepRecorder, pool, wallets=settings.provided.wallets)
    memory_store = providers.Singleton(PostgresSummaryStore, pool)
    wallet_store = providers.Singleton(PostgresWalletStore, pool)
    # None when PANTHEON_WALLETS=false: calls are neither reserved nor debited (the bench's comparison).
    wallet_in_use = providers.Callable(lambda on, store: store if on else None, settings.provided.wallets, wallet_store)
    admin_store = providers.Singleton(PostgresAdminStore, pool)
    request_limiter = providers.Singleton(TokenBucketLimiter, settings.provided.rate_limit_per_minute)
    usage_ledger = providers.Singleton(PostgresUsageLedger, pool)

    llm = providers.Resource(open_llm, catalog, settings.provided.sim_slow_chunk_delay_s)
    checkpointer = providers.Resource(open_checkpointer, pool)
    runner = providers.Resource(open_runner, checkpointer, settings.provided.turn_durability, pool)

    register_user = providers.Singleton(
        users.RegisterUser,
        user_store,
        clock,
        ids,
        open_signup=settings.provided.open_signup,
        starting_credits=settings.provided.starting_credits,
    )
    authenticate = providers.Singleton(users.Authenticate, user_store, request_limiter)
    show_credits = providers.Singleton(wallet.ShowCredits, wallet_store, clock)
    list_transactions = providers.Singleton(wallet.ListTransactions, wallet_store)

    list_accounts = providers.Singleton(admin.ListAccounts, admin_store, clock)
    grant_credits = providers.Singleton(admin.GrantCredits, admin_store, clock, ids)
    set_cap = providers.Singleton(admin.SetCap, admin_store, clock, ids)
    suspend_user = providers.Singleton(admin.Suspend, admin_store, user_store, clock, ids)
    usage_report = providers.Singleton(admin.UsageReport, admin_store, clock)
    export_ledger = providers.Singleton(admin.ExportLedger, admin_store, clock)
    list_audit = providers.Singleton(admin.ListAudit, admin_store)
    promote_admin = providers.Singleton(
        admin.PromoteAdmin, admin_store, clock, ids, starting_credits=settings.provided.starting_credits
    )

    create_room = providers.Singleton(rooms.CreateRoom, room_store, catalog, clock, ids)
    list_rooms = providers.Singleton(rooms.ListRooms, room_store)
    get_room = providers.Singleton(rooms.GetRoom, room_store)
    update_room = providers.Singleton(rooms.UpdateRoom, room_store, catalog, clock)
    change_mode = providers.Singleton(rooms.ChangeMode, room_store, clock)
    delete_room = providers.Singleton(rooms.DeleteRoom, room_store, clock)

    add_agent = providers.Singleton(
        agents.AddAgent, room_store, agent_store, catalog, clock, ids, max_agents=settings.provided.max_agents_per_room
    )
    list_agents = providers.Singleton(agents.ListAgents, room_store, agent_store)
    update_agent = providers.Singleton(agents.UpdateAgent, agent_store, catalog)
    remove_agent = providers.Singleton(agents.RemoveAgent, agent_store)

    open_session = providers.Singleton(sessions.OpenSession, room_store, session_store, clock, ids)
    list_sessions = providers.Singleton(sessions.ListSessions, room_store, session_store)
    get_session = providers.Singleton(sessions.GetSession, session_store)
    list_messages = providers.Singleton(sessions.ListMessages, session_store)

    list_models = providers.Singleton(catalog_uc.ListModels, catalog, pricing_store)
    list_pricing = providers.Singleton(catalog_uc.ListPricing, pricing_store)
    get_pricing = providers.Singleton(catalog_uc.GetPricing, pricing_store)
    # Price overrides of the TOML config -> a new pricing version, published once at app start (app.py lifespan).
    publish_prices = providers.Singleton(PublishPrices, pricing_store, catalog, clock)

    patience = providers.Singleton(Patience, settings.provided.turn_db_patience_s)
    execute_step = providers.Singleton(
        ExecuteStep, llm, catalog, pricing_store, step_recorder, clock, ids, patience, wallet_in_use
    )
    remember_session = providers.Singleton(
        RememberSession,
        llm,
        catalog,
        pricing_store,
        history_store,
        memory_store,
        step_recorder,
        clock,
        ids,
        patience,
        wallet_in_use,
        summary_model=summary_model,
    )
    event_store = providers.Singleton(PostgresTurnEventStore, pool)
    stop_store = providers.Singleton(PostgresStopStore, pool)
    # Stops stored by any process reach ours: by the turn's notice, else by polling.
    stop_watch = providers.Singleton(PollingStopWatch, stop_store, signals=turn_signals)
    run_turn = providers.Singleton(
        RunTurn,
        turn_store,
        runner,
        execute_step,
        remember_session,
        event_store,
        step_recorder,
        pricing_store,
        patience,
        clock,
        ids,
        stop_watch,
    )
    send_message = providers.Singleton(
        SendMessage,
        turn_store,
        pricing_store,
        catalog,
        run_turn,
        clock,
        ids,
        max_agents=settings.provided.max_agents_per_room,
        manager_model=manager_model,
        max_running_turns=settings.provided.max_running_turns,
        wallets=settings.provided.wallets,
        memory=remember_session,
    )
    recover_turns = providers.Singleton(
        RecoverTurns,
        turn_store,
        run_turn,
        clock,
        stale_after_s=settings.provided.turn_stale_after_s,
        abandon_after_s=settings.provided.turn_abandon_after_s,
    )
    supervise_turns = providers.Singleton(
        SuperviseTurns,
        turn_store,
        recover_turns,
        run_turn,
        runner,
        clock,
        wallet_in_use,
        stale_after_s=settings.provided.turn_stale_after_s,
    )
    read_turn_events = providers.Singleton(turn_events.ReadTurnEvents, session_store, turn_store, event_store)
    turn_feeds = providers.Singleton(
        TurnFeeds, event_store, turn_signals, backlog_bytes=settings.provided.stream_backlog_bytes
    )
    list_turns = providers.Singleton(turns.ListTurns, session_store, turn_store)
    get_turn = providers.Singleton(turns.GetTurn, session_store, turn_store)
    get_summary = providers.Singleton(memory_uc.GetSummary, memory_store)
    get_turn_context = providers.Singleton(memory_uc.GetTurnContext, memory_store)
    list_usage_events = providers.Singleton(usage.ListUsageEvents, usage_ledger)
    usage_summary = providers.Singleton(usage.UsageSummary, usage_ledger)
    # The OpenAI-compatible entrypoint: which session a stateless client's conversation continues.
    conversation_store = providers.Singleton(PostgresConversationStore, pool)
    start_conversation_turn = providers.Singleton(
        StartConversationTurn, room_store, session_store, conversation_store, turn_store, send_message, clock, ids
    )
    stop_turn = providers.Singleton(StopTurn, stop_store, stop_watch, turn_store, clock)
