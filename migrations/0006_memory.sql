-- Session memory: which turn wrote each summary (and so paid for it), one context audit row per call
-- instead of one per turn, and call intents of summary calls, which belong to no step.
-- depends: 0005_orchestrator

ALTER TABLE session_summaries ADD COLUMN turn_id uuid REFERENCES turns (id) ON DELETE SET NULL;
ALTER TABLE session_summaries ADD COLUMN turn_index integer NOT NULL DEFAULT 0;
-- A turn writes at most one summary: a resumed turn finds its own and does not summarise again.
CREATE UNIQUE INDEX session_summaries_turn_idx ON session_summaries (turn_id);

ALTER TABLE turn_context_audit DROP CONSTRAINT turn_context_audit_pkey;
ALTER TABLE turn_context_audit RENAME COLUMN estimated_tokens TO estimated_tokens_after;
ALTER TABLE turn_context_audit ADD COLUMN call_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE turn_context_audit ADD COLUMN step_index integer;  -- null: the turn's summary call
ALTER TABLE turn_context_audit ADD COLUMN model text NOT NULL DEFAULT '';
ALTER TABLE turn_context_audit ADD COLUMN context_window integer NOT NULL DEFAULT 0;
ALTER TABLE turn_context_audit ADD COLUMN estimated_tokens_before integer;
UPDATE turn_context_audit SET estimated_tokens_before = estimated_tokens_after, step_index = 0;
ALTER TABLE turn_context_audit ALTER COLUMN estimated_tokens_before SET NOT NULL;
ALTER TABLE turn_context_audit ALTER COLUMN call_id DROP DEFAULT;
ALTER TABLE turn_context_audit ADD PRIMARY KEY (call_id);
CREATE INDEX turn_context_audit_turn_idx ON turn_context_audit (turn_id, created_at);

ALTER TABLE llm_call_intents ALTER COLUMN step_index DROP NOT NULL;
