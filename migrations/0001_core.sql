-- Users, API keys, rooms, agents and sessions.

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    email        text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 320),
    display_name text CHECK (char_length(display_name) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash   bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

CREATE TABLE rooms (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    goal          text CHECK (char_length(goal) <= 2000),
    current_mode  text NOT NULL CHECK (current_mode IN ('manual', 'roundtable', 'orchestrator')),
    pending_mode  text CHECK (pending_mode IN ('manual', 'roundtable', 'orchestrator')),
    manager_model text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz
);
CREATE INDEX rooms_owner_live_idx ON rooms (owner_id, created_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE agents (
    id          uuid PRIMARY KEY,
    room_id     uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    agent_key   text NOT NULL CHECK (agent_key ~ '^[a-z][a-z0-9_]{0,31}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    model_alias text NOT NULL,
    role_prompt text NOT NULL CHECK (char_length(role_prompt) <= 20000),
    position    integer NOT NULL CHECK (position BETWEEN 0 AND 10000),
    created_at  timestamptz NOT NULL,
    CONSTRAINT agents_room_key_unique UNIQUE (room_id, agent_key)
);
CREATE INDEX agents_room_position_idx ON agents (room_id, position);

CREATE TABLE sessions (
    id         uuid PRIMARY KEY,
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    turn_count integer NOT NULL DEFAULT 0 CHECK (turn_count >= 0)
);
CREATE INDEX sessions_room_idx ON sessions (room_id, created_at);
CREATE INDEX sessions_user_idx ON sessions (user_id);
