DROP INDEX IF EXISTS turns_conversation_lookup;
