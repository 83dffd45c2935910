-- Orchestrator mode: manager decisions and instructions on steps, the manager alias a turn runs with,
-- and why each ledger row was spent (agent, manager, synthesis, summary).
-- depends: 0004_context

ALTER TABLE turns ADD COLUMN manager_model text;

ALTER TABLE turn_steps ADD COLUMN decision jsonb;
ALTER TABLE turn_steps ADD COLUMN instruction text;

ALTER TABLE llm_call_events ADD COLUMN purpose text NOT NULL DEFAULT 'agent'
    CHECK (purpose IN ('agent', 'manager', 'synthesis', 'summary'));
ALTER TABLE llm_call_intents ADD COLUMN purpose text NOT NULL DEFAULT 'agent';
