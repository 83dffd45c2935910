-- Context budget: rolling session summaries and one audit row per turn.
-- depends: 0003_ledger

CREATE TABLE session_summaries (
    id                 uuid PRIMARY KEY,
    session_id         uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    through_turn_index integer NOT NULL,
    summary_text       text NOT NULL,
    key_facts          jsonb NOT NULL DEFAULT '[]'::jsonb,
    decisions          jsonb NOT NULL DEFAULT '[]'::jsonb,
    open_questions     jsonb NOT NULL DEFAULT '[]'::jsonb,
    action_items       jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at         timestamptz NOT NULL
);
CREATE INDEX session_summaries_session_idx ON session_summaries (session_id, through_turn_index DESC);

CREATE TABLE turn_context_audit (
    turn_id          uuid PRIMARY KEY REFERENCES turns (id) ON DELETE CASCADE,
    input_budget     integer NOT NULL,
    estimated_tokens integer NOT NULL,
    history_turns    integer NOT NULL,
    actions          jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at       timestamptz NOT NULL
);
