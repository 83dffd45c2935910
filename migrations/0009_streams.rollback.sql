DROP TRIGGER rooms_deleted_notify ON rooms;
DROP FUNCTION pantheon_notify_room_deleted();
DROP TRIGGER turn_events_notify ON turn_events;
DROP FUNCTION pantheon_notify_turn_events();
