-- Stopping a turn and caps per turn: a room's caps, a turn's snapshot of them, the stop asked for
-- (written by whichever process receives it, read by the one running the turn) and why it stopped.
-- depends: 0007_wallet

ALTER TABLE rooms ADD COLUMN max_credits_per_turn numeric(20, 4)
    CHECK (max_credits_per_turn > 0);
ALTER TABLE rooms ADD COLUMN max_agent_calls_per_turn integer
    CHECK (max_agent_calls_per_turn BETWEEN 1 AND 1000);
ALTER TABLE rooms ADD COLUMN max_turn_seconds integer
    CHECK (max_turn_seconds BETWEEN 1 AND 86400);

ALTER TABLE turns ADD COLUMN caps jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE turns ADD COLUMN stop_mode text CHECK (stop_mode IN ('after_step', 'now'));
ALTER TABLE turns ADD COLUMN stop_requested_at timestamptz;
ALTER TABLE turns ADD COLUMN stop_reason text
    CHECK (stop_reason IN ('user', 'credit_cap', 'call_cap', 'time_cap'));
ALTER TABLE turns DROP CONSTRAINT turns_status_check;
ALTER TABLE turns ADD CONSTRAINT turns_status_check
    CHECK (status IN ('running', 'completed', 'partial', 'failed', 'stopped'));

ALTER TABLE turn_steps DROP CONSTRAINT turn_steps_status_check;
ALTER TABLE turn_steps ADD CONSTRAINT turn_steps_status_check
    CHECK (status IN ('completed', 'failed', 'stopped'));
