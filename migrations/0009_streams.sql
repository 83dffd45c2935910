-- Followers of a running turn are woken by LISTEN/NOTIFY instead of polling: every statement that
-- stores turn events notifies channel `pantheon_turn_events` with '<turn_id>:<highest seq stored>'
-- per turn, in the writing transaction, so the notice is delivered when (and only if) it commits.
-- Ids only: a payload must stay under 8000 bytes, and readers fetch the events themselves. Deleting a
-- room notifies its running turns too (see below).
-- depends: 0008_stop

CREATE FUNCTION pantheon_notify_turn_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stored record;
BEGIN
    FOR stored IN SELECT turn_id, max(seq) AS seq FROM added_events GROUP BY turn_id LOOP
        PERFORM pg_notify('pantheon_turn_events', stored.turn_id::text || ':' || stored.seq::text);
    END LOOP;
    RETURN NULL;
END;
$$;

-- Per statement, not per row: a step's commit stores several events and sends one notice.
CREATE TRIGGER turn_events_notify AFTER INSERT ON turn_events
    REFERENCING NEW TABLE AS added_events
    FOR EACH STATEMENT EXECUTE FUNCTION pantheon_notify_turn_events();

-- A deleted room ends the streams of its running turns: their followers are told at once (a notice
-- without a seq: "read again"), not at their next safety read.
CREATE FUNCTION pantheon_notify_room_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pantheon_turn_events', t.id::text || ':')
    FROM turns t WHERE t.room_id = NEW.id AND t.status = 'running';
    RETURN NULL;
END;
$$;

CREATE TRIGGER rooms_deleted_notify AFTER UPDATE OF deleted_at ON rooms
    FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION pantheon_notify_room_deleted();
