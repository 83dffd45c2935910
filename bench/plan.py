"""How much each section measures, and what it found."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.memory import LongSession
from bench.openai_facade import FacadeComparison
from bench.resilience import Followers, Recovery
from bench.stats import Sample
from bench.stop_latency import StopLatency
from bench.streams import Streams


@dataclass
class Plan:
    manual_warmup: int = 30
    manual_n: int = 300
    roundtable_warmup: int = 15
    roundtable_n: int = 150
    orchestrator_warmup: int = 15
    orchestrator_n: int = 150
    per_session: int = 10
    rounds: int = 5  # sections 1-4 run interleaved in this many rounds
    growth_turns: int = 200
    long_session_turns: int = 300
    clients: int = 16
    duration_s: float = 10.0
    lg_warmup: int = 20
    lg_n: dict[int, int] = field(default_factory=lambda: {1: 200, 5: 150})
    sql_warmup: int = 30
    sql_n: int = 300
    followers: int = 200
    followers_window_s: float = 5.0
    outages_s: tuple[float, ...] = (5.0, 15.0)
    facade_warmup: int = 20
    facade_n: int = 200  # turns per route, measured in alternation
    stream_turns: int = 3  # section 12: latency turns of `stream_agents` sim-slow agents
    stream_agents: int = 3
    idle_counts: tuple[int, ...] = (200, 1000)  # idle followers: RSS at the first count, CPU and queries at each
    idle_window_s: float = 5.0
    stops: int = 40  # section 13: stops of each kind (same process, other process)

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            manual_warmup=5,
            manual_n=40,
            roundtable_warmup=3,
            roundtable_n=20,
            orchestrator_warmup=3,
            orchestrator_n=20,
            growth_turns=40,
            long_session_turns=40,
            duration_s=2.0,
            lg_warmup=3,
            lg_n={1: 20, 5: 20},
            sql_warmup=3,
            sql_n=30,
            followers=50,
            followers_window_s=1.0,
            outages_s=(2.0,),
            facade_warmup=3,
            facade_n=20,
            stream_turns=1,
            stream_agents=2,
            idle_counts=(50, 100),
            idle_window_s=1.0,
            stops=5,
        )


@dataclass
class Results:
    manual: Sample | None = None
    roundtable: Sample | None = None
    orchestrator: Sample | None = None  # 3 agent runs: 4 decisions, 3 answers, 1 synthesis
    roundtable3: Sample | None = None  # the same 3 agent calls, without the manager
    langgraph: dict[tuple[int, str | None], Sample] = field(default_factory=dict)
    sql: dict[int, Sample] = field(default_factory=dict)
    growth: tuple[Sample, Sample, list[float]] | None = None
    long_session: LongSession | None = None
    throughput: tuple[Sample, float] | None = None
    followers: Followers | None = None
    recovery: list[Recovery] = field(default_factory=list)
    facade: FacadeComparison | None = None  # section 11: the OpenAI-compatible entrypoint vs the native route
    streams: Streams | None = None
    wallet: tuple[Sample, Sample] | None = None  # the manual turn with wallets, and on a PANTHEON_WALLETS=false server
    stop: StopLatency | None = None  # section 13
    env: dict[str, str] = field(default_factory=dict)
