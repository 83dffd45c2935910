DROP TABLE turn_context_audit;
DROP TABLE session_summaries;
