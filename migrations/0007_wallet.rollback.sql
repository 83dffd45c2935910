DROP INDEX turns_user_running_idx;
DROP INDEX llm_call_events_created_idx;
DROP TABLE admin_audit;
DROP TABLE credit_reservations;
DROP TABLE credit_transactions;
DROP TABLE wallets;
ALTER TABLE users DROP COLUMN suspended_at;
ALTER TABLE users DROP COLUMN role;
