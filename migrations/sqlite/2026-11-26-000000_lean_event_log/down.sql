-- The counter row takes over the ids again, from where the sequence stopped.
UPDATE chat_event_counter
    SET last_id = MAX(last_id, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'chat_events'), 0));

CREATE TABLE chat_events_wide (
    id BIGINT PRIMARY KEY,
    room_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    target_user_id BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO chat_events_wide (id, room_id, kind, payload, target_user_id, created_at)
    SELECT id, room_id, kind, payload, target_user_id, created_at FROM chat_events;
DROP TABLE chat_events;
DELETE FROM sqlite_sequence WHERE name = 'chat_events';
ALTER TABLE chat_events_wide RENAME TO chat_events;
CREATE INDEX idx_chatevent_room_id ON chat_events (room_id, id);
CREATE INDEX idx_chatevent_target ON chat_events (target_user_id, id);
CREATE INDEX idx_chatevent_created ON chat_events (created_at);

CREATE INDEX idx_chatmsg_room_created ON chat_messages (room_id, created_at);
