-- Wallets: credits granted and debited (append-only transactions), reservations held before each
-- call attempt, monthly caps, the admin role, suspension, and the audit log of admin writes.
-- depends: 0006_memory

ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN suspended_at timestamptz;

-- One row per user, the row every money movement of that user locks (so reservations, settlements
-- and grants of one user are serialized, across server processes). `balance` is kept equal to the
-- sum of the user's credit_transactions by the statements that insert them; `reserved` to the sum of
-- the user's credit_reservations; `month_spent` to the debits dated in `month` (a UTC month).
CREATE TABLE wallets (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE RESTRICT,
    balance     numeric(20, 4) NOT NULL DEFAULT 0,
    reserved    numeric(20, 4) NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    monthly_cap numeric(20, 4) CHECK (monthly_cap >= 0),
    month       date NOT NULL DEFAULT date_trunc('month', now() AT TIME ZONE 'UTC')::date,
    month_spent numeric(20, 4) NOT NULL DEFAULT 0
);

CREATE TABLE credit_transactions (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    kind              text NOT NULL CHECK (kind IN ('grant', 'debit', 'adjustment')),
    amount            numeric(20, 4) NOT NULL CHECK (amount <> 0),
    reason            text NOT NULL CHECK (char_length(reason) <= 500),
    llm_call_event_id uuid UNIQUE REFERENCES llm_call_events (id) ON DELETE RESTRICT,
    actor             text,
    idempotency_key   text CHECK (char_length(idempotency_key) <= 200),
    created_at        timestamptz NOT NULL,
    CONSTRAINT credit_transactions_debit_shape
        CHECK ((kind = 'debit') = (llm_call_event_id IS NOT NULL) AND (kind <> 'debit' OR amount < 0)),
    CONSTRAINT credit_transactions_grant_positive CHECK (kind <> 'grant' OR amount > 0)
);
CREATE UNIQUE INDEX credit_transactions_user_key ON credit_transactions (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX credit_transactions_user_created_idx ON credit_transactions (user_id, created_at DESC, id DESC);
CREATE TRIGGER credit_transactions_append_only BEFORE UPDATE OR DELETE ON credit_transactions
    FOR EACH ROW EXECUTE FUNCTION pantheon_forbid_change();

-- The worst case of one call attempt, held from before it is sent until its step commits (settled
-- there into the debit of its ledger row) or its turn is recovered; a turn's opening hold has
-- call_id = turn_id. A reservation whose turn is no longer running or heartbeating is swept.
CREATE TABLE credit_reservations (
    call_id    uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    turn_id    uuid NOT NULL,
    step_index integer,
    amount     numeric(20, 4) NOT NULL CHECK (amount >= 0),
    created_at timestamptz NOT NULL
);
CREATE INDEX credit_reservations_turn_idx ON credit_reservations (turn_id);

CREATE TABLE admin_audit (
    id             uuid PRIMARY KEY,
    actor_id       uuid REFERENCES users (id) ON DELETE RESTRICT,
    action         text NOT NULL,
    target_user_id uuid REFERENCES users (id) ON DELETE RESTRICT,
    before         jsonb,
    after          jsonb,
    created_at     timestamptz NOT NULL
);
CREATE INDEX admin_audit_created_idx ON admin_audit (created_at DESC, id DESC);
CREATE TRIGGER admin_audit_append_only BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION pantheon_forbid_change();

CREATE INDEX llm_call_events_created_idx ON llm_call_events (created_at, id);
CREATE INDEX turns_user_running_idx ON turns (user_id) WHERE status = 'running';

-- Users from before wallets: the default starting grant, then a debit for every ledger row they
-- already burned credits on, so that balance = Σ transactions and Σ debits = Σ credits_burned hold.
INSERT INTO credit_transactions (id, user_id, kind, amount, reason, actor, idempotency_key, created_at)
SELECT gen_random_uuid(), u.id, 'grant', 100, 'starting grant', 'system', 'starting-grant', u.created_at
FROM users u;
INSERT INTO credit_transactions (id, user_id, kind, amount, reason, llm_call_event_id, created_at)
SELECT gen_random_uuid(), e.user_id, 'debit', -e.credits_burned, 'llm call', e.id, e.created_at
FROM llm_call_events e WHERE e.credits_burned > 0;
INSERT INTO wallets (user_id, balance)
SELECT u.id, coalesce((SELECT sum(t.amount) FROM credit_transactions t WHERE t.user_id = u.id), 0)
FROM users u;
