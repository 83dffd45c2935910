DROP TABLE llm_call_events;
DROP FUNCTION pantheon_ledger_guard();
DROP TABLE model_pricing;
DROP TABLE pricing_versions;
DROP FUNCTION pantheon_forbid_change();
