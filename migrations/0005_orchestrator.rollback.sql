ALTER TABLE llm_call_intents DROP COLUMN purpose;
ALTER TABLE llm_call_events DROP COLUMN purpose;
ALTER TABLE turn_steps DROP COLUMN instruction;
ALTER TABLE turn_steps DROP COLUMN decision;
ALTER TABLE turns DROP COLUMN manager_model;
