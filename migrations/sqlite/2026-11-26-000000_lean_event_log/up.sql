-- Fewer statements and pages written per message. The event id becomes the table's
-- AUTOINCREMENT rowid: SQLite has one writer at a time, so ids commit in id order without
-- the counter row, and no separate primary-key index is kept. From here on SQLite takes
-- new ids from the sequence (started at the counter's last id, so they continue where the
-- counter stopped, also after retention removed every event), and
-- chat_event_counter.last_id is no longer updated there; pruned_through still is.
-- The index of events addressed to a user holds only those events; retention walks the
-- log in id order instead of keeping an index on created_at; and nothing reads messages by
-- (room_id, created_at).
DROP INDEX idx_chatmsg_room_created;

CREATE TABLE chat_events_lean (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- the user an event concerns beyond the room's members (a removed member)
    target_user_id BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO chat_events_lean (id, room_id, kind, payload, target_user_id, created_at)
    SELECT id, room_id, kind, payload, target_user_id, created_at FROM chat_events;
DROP TABLE chat_events;
ALTER TABLE chat_events_lean RENAME TO chat_events;
DELETE FROM sqlite_sequence WHERE name IN ('chat_events', 'chat_events_lean');
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'chat_events', MAX(last_id, (SELECT COALESCE(MAX(id), 0) FROM chat_events)) FROM chat_event_counter;
CREATE INDEX idx_chatevent_room_id ON chat_events (room_id, id);
CREATE INDEX idx_chatevent_target ON chat_events (target_user_id, id) WHERE target_user_id IS NOT NULL;
