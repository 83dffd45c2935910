-- Stopped turns and steps cannot be represented without this migration: they become failed ones.
UPDATE turn_steps SET status = 'failed' WHERE status = 'stopped';
ALTER TABLE turn_steps DROP CONSTRAINT turn_steps_status_check;
ALTER TABLE turn_steps ADD CONSTRAINT turn_steps_status_check CHECK (status IN ('completed', 'failed'));

UPDATE turns SET status = 'partial' WHERE status = 'stopped';
ALTER TABLE turns DROP CONSTRAINT turns_status_check;
ALTER TABLE turns ADD CONSTRAINT turns_status_check
    CHECK (status IN ('running', 'completed', 'partial', 'failed'));
ALTER TABLE turns DROP COLUMN stop_reason;
ALTER TABLE turns DROP COLUMN stop_requested_at;
ALTER TABLE turns DROP COLUMN stop_mode;
ALTER TABLE turns DROP COLUMN caps;

ALTER TABLE rooms DROP COLUMN max_turn_seconds;
ALTER TABLE rooms DROP COLUMN max_agent_calls_per_turn;
ALTER TABLE rooms DROP COLUMN max_credits_per_turn;
