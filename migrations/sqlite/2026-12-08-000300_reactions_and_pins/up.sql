-- One row per (message, user, emoji). The id orders a message's emoji by first use.
CREATE TABLE chat_reactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BIGINT NOT NULL REFERENCES chat_messages(id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (message_id, user_id, emoji)
);

-- A pinned message: at most one pin per message.
CREATE TABLE chat_pins (
    message_id BIGINT PRIMARY KEY REFERENCES chat_messages(id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
    pinned_by_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pinned_at BIGINT NOT NULL
);
CREATE INDEX idx_chatpin_room ON chat_pins (room_id, pinned_at);
