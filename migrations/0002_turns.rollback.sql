DROP TABLE llm_call_intents;
DROP TABLE turn_events;
DROP TABLE turn_steps;
DROP TABLE turns;
