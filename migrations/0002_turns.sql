-- Turns, their steps, their replayable events, and in-flight call intents.
-- depends: 0001_core

CREATE TABLE turns (
    id              uuid PRIMARY KEY,
    session_id      uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id         uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    turn_index      integer NOT NULL CHECK (turn_index >= 0),
    mode            text NOT NULL CHECK (mode IN ('manual', 'roundtable', 'orchestrator')),
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'partial', 'failed')),
    user_message    text NOT NULL,
    roster          jsonb NOT NULL,
    plan            jsonb NOT NULL DEFAULT '[]'::jsonb,
    pricing_version text NOT NULL,
    idempotency_key text CHECK (char_length(idempotency_key) <= 200),
    request_hash    text,
    error           jsonb,
    created_at      timestamptz NOT NULL,
    heartbeat_at    timestamptz NOT NULL,
    completed_at    timestamptz,
    CONSTRAINT turns_session_index_unique UNIQUE (session_id, turn_index)
);
CREATE UNIQUE INDEX turns_user_idempotency_key ON turns (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX turns_running_idx ON turns (heartbeat_at) WHERE status = 'running';
-- At most one running turn per session, whatever the code above it does.
CREATE UNIQUE INDEX turns_one_running_per_session ON turns (session_id) WHERE status = 'running';

CREATE TABLE turn_steps (
    id                  uuid NOT NULL UNIQUE,
    turn_id             uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    step_index          integer NOT NULL CHECK (step_index >= 0),
    kind                text NOT NULL CHECK (kind IN ('agent', 'manager', 'synthesis')),
    agent_key           text,
    agent_name          text,
    model_alias         text NOT NULL,
    status              text NOT NULL CHECK (status IN ('completed', 'failed')),
    content             text NOT NULL,
    error               jsonb,
    input_tokens        integer NOT NULL DEFAULT 0,
    cached_input_tokens integer NOT NULL DEFAULT 0,
    output_tokens       integer NOT NULL DEFAULT 0,
    credits             numeric(20, 4) NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (turn_id, step_index)
);

CREATE TABLE turn_events (
    turn_id    uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    seq        integer NOT NULL CHECK (seq >= 1),
    type       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (turn_id, seq)
);

-- Written (committed) before a provider is called, removed with the step's commit: what is left
-- after a crash is a call we may have paid for and becomes a `cancelled` ledger row on recovery.
CREATE TABLE llm_call_intents (
    call_id                uuid PRIMARY KEY,
    turn_id                uuid NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    step_index             integer NOT NULL,
    agent_key              text,
    provider               text NOT NULL,
    model_alias            text NOT NULL,
    provider_model         text NOT NULL,
    estimated_input_tokens integer NOT NULL,
    started_at             timestamptz NOT NULL,
    -- Set when a failed attempt is followed by a retry: its real outcome, ledgered on recovery.
    outcome                jsonb
);
CREATE INDEX llm_call_intents_turn_idx ON llm_call_intents (turn_id);
