-- The OpenAI-compatible entrypoint recognises a stateless client's conversation by the user messages
-- Pantheon stored: this index finds the turns of a room at a given index carrying a given message.
-- depends: 0009_streams

CREATE INDEX turns_conversation_lookup ON turns (room_id, turn_index, md5(user_message));
