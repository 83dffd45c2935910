DELETE FROM llm_call_intents WHERE step_index IS NULL;
ALTER TABLE llm_call_intents ALTER COLUMN step_index SET NOT NULL;

DROP INDEX turn_context_audit_turn_idx;
ALTER TABLE turn_context_audit DROP CONSTRAINT turn_context_audit_pkey;
DELETE FROM turn_context_audit a USING turn_context_audit b
    WHERE a.turn_id = b.turn_id AND (a.created_at, a.call_id) > (b.created_at, b.call_id);
ALTER TABLE turn_context_audit DROP COLUMN estimated_tokens_before;
ALTER TABLE turn_context_audit DROP COLUMN context_window;
ALTER TABLE turn_context_audit DROP COLUMN model;
ALTER TABLE turn_context_audit DROP COLUMN step_index;
ALTER TABLE turn_context_audit DROP COLUMN call_id;
ALTER TABLE turn_context_audit RENAME COLUMN estimated_tokens_after TO estimated_tokens;
ALTER TABLE turn_context_audit ADD PRIMARY KEY (turn_id);

DROP INDEX session_summaries_turn_idx;
ALTER TABLE session_summaries DROP COLUMN turn_index;
ALTER TABLE session_summaries DROP COLUMN turn_id;
