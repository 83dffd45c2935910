-- Pricing versions (immutable once published) and the append-only usage ledger.
-- depends: 0002_turns

CREATE TABLE pricing_versions (
    version                text PRIMARY KEY,
    effective_from         timestamptz NOT NULL,
    fresh_input_weight     numeric(10, 4) NOT NULL,
    cached_input_weight    numeric(10, 4) NOT NULL,
    output_weight          numeric(10, 4) NOT NULL,
    oe_tokens_per_credit   numeric(20, 4) NOT NULL CHECK (oe_tokens_per_credit > 0),
    multiplier_floor       numeric(10, 4) NOT NULL,
    default_multiplier     numeric(10, 4) NOT NULL,
    overage_usd_per_credit numeric(20, 8) NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_pricing (
    version                   text NOT NULL REFERENCES pricing_versions (version) ON DELETE RESTRICT,
    alias                     text NOT NULL,
    multiplier                numeric(10, 4) NOT NULL CHECK (multiplier >= 0),
    input_usd_per_mtok        numeric(20, 8) NOT NULL CHECK (input_usd_per_mtok >= 0),
    cached_input_usd_per_mtok numeric(20, 8) NOT NULL CHECK (cached_input_usd_per_mtok >= 0),
    output_usd_per_mtok       numeric(20, 8) NOT NULL CHECK (output_usd_per_mtok >= 0),
    PRIMARY KEY (version, alias)
);

-- A published price never changes: rows may be added, never updated or deleted.
CREATE FUNCTION pantheon_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER pricing_versions_immutable BEFORE UPDATE OR DELETE ON pricing_versions
    FOR EACH ROW EXECUTE FUNCTION pantheon_forbid_change();
CREATE TRIGGER model_pricing_immutable BEFORE UPDATE OR DELETE ON model_pricing
    FOR EACH ROW EXECUTE FUNCTION pantheon_forbid_change();

CREATE TABLE llm_call_events (
    id                  uuid PRIMARY KEY,
    call_id             uuid NOT NULL,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    room_id             uuid REFERENCES rooms (id) ON DELETE SET NULL,
    session_id          uuid REFERENCES sessions (id) ON DELETE SET NULL,
    turn_id             uuid REFERENCES turns (id) ON DELETE SET NULL,
    step_index          integer,
    agent_key           text,
    provider            text NOT NULL,
    model_alias         text NOT NULL,
    provider_model      text NOT NULL,
    input_tokens_fresh  integer NOT NULL CHECK (input_tokens_fresh >= 0),
    input_tokens_cached integer NOT NULL CHECK (input_tokens_cached >= 0),
    output_tokens       integer NOT NULL CHECK (output_tokens >= 0),
    total_tokens        integer NOT NULL,
    oe_tokens           numeric(20, 4) NOT NULL,
    multiplier          numeric(10, 4) NOT NULL,
    credits_burned      numeric(20, 4) NOT NULL,
    provider_cost_usd   numeric(20, 8) NOT NULL,
    latency_ms          integer NOT NULL CHECK (latency_ms >= 0),
    status              text NOT NULL CHECK (status IN ('success', 'error', 'timeout', 'rate_limited', 'cancelled')),
    usage_estimated     boolean NOT NULL DEFAULT false,
    error_code          text,
    pricing_version     text NOT NULL REFERENCES pricing_versions (version) ON DELETE RESTRICT,
    request_id          text,
    created_at          timestamptz NOT NULL,
    CONSTRAINT llm_call_events_call_id_unique UNIQUE (call_id),
    CONSTRAINT llm_call_events_total_check
        CHECK (total_tokens = input_tokens_fresh + input_tokens_cached + output_tokens)
);
CREATE INDEX llm_call_events_user_created_idx ON llm_call_events (user_id, created_at, id);
CREATE INDEX llm_call_events_turn_idx ON llm_call_events (turn_id);
CREATE INDEX llm_call_events_session_idx ON llm_call_events (session_id);

-- The ledger is append-only. The only change allowed is the database itself nulling a chat
-- reference (ON DELETE SET NULL) when chat history is purged: money rows outlive chat.
CREATE FUNCTION pantheon_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'room_id' - 'session_id' - 'turn_id')
           = (to_jsonb(OLD) - 'room_id' - 'session_id' - 'turn_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'llm_call_events is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER llm_call_events_append_only BEFORE UPDATE OR DELETE ON llm_call_events
    FOR EACH ROW EXECUTE FUNCTION pantheon_ledger_guard();

INSERT INTO pricing_versions (version, effective_from, fresh_input_weight, cached_input_weight, output_weight,
                              oe_tokens_per_credit, multiplier_floor, default_multiplier, overage_usd_per_credit)
VALUES ('2026-02-20', '2026-02-20T00:00:00Z', 0.35, 0.10, 1.0, 10000, 0.5, 1.0, 0.03);

-- Multipliers from the pricing decision of 2026-02-20; USD prices are the providers' public list
-- prices per million tokens used to estimate our own cost.
INSERT INTO model_pricing (version, alias, multiplier, input_usd_per_mtok, cached_input_usd_per_mtok, output_usd_per_mtok)
VALUES
    ('2026-02-20', 'sim',           1.00,  0,     0,     0),
    ('2026-02-20', 'sim-slow',      1.00,  0,     0,     0),
    ('2026-02-20', 'deepseek',      1.00,  0.27,  0.07,  1.10),
    ('2026-02-20', 'llama',         0.50,  0.13,  0.065, 0.40),
    ('2026-02-20', 'qwen',          0.50,  0.12,  0.06,  0.39),
    ('2026-02-20', 'gpt_oss',       0.50,  0.10,  0.05,  0.50),
    ('2026-02-20', 'kimi',          2.40,  0.60,  0.15,  2.50),
    ('2026-02-20', 'glm',           2.55,  0.60,  0.11,  2.20),
    ('2026-02-20', 'gpt-5-mini',    2.25,  0.25,  0.025, 2.00),
    ('2026-02-20', 'gpt-4.1',      10.00,  2.00,  0.50,  8.00),
    ('2026-02-20', 'gpt-4o',       12.50,  2.50,  1.25, 10.00),
    ('2026-02-20', 'gpt-5',        11.25,  1.25,  0.125, 10.00),
    ('2026-02-20', 'gpt-5.2',      15.75,  1.75,  0.175, 14.00),
    ('2026-02-20', 'gemini-pro',   14.00,  1.25,  0.3125, 10.00),
    ('2026-02-20', 'claude-sonnet', 18.00, 3.00,  0.30, 15.00),
    ('2026-02-20', 'grok',         18.00,  3.00,  0.75, 15.00),
    ('2026-02-20', 'claude-opus',  30.00, 15.00,  1.50, 75.00);
