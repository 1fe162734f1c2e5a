-- Times are microseconds since the Unix epoch (UTC), stored as 64-bit integers on both backends.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_permissions (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX idx_sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX idx_api_tokens_user ON api_tokens (user_id);

CREATE TABLE chat_rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    room_type TEXT NOT NULL CHECK (room_type IN ('direct', 'group', 'channel')),
    created_by_id BIGINT NOT NULL REFERENCES users(id),
    -- "low:high" user ids of a direct room; unique so that each pair has one room
    direct_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL
);
CREATE INDEX idx_chatroom_type ON chat_rooms (room_type);

CREATE TABLE chat_room_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id BIGINT NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('member', 'admin', 'moderator')),
    joined_at BIGINT NOT NULL,
    last_read_at BIGINT,
    last_read_message_id BIGINT NOT NULL DEFAULT 0,
    is_muted BOOLEAN NOT NULL DEFAULT 0,
    UNIQUE (room_id, user_id)
);
CREATE INDEX idx_chatmember_user ON chat_room_members (user_id);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id BIGINT NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
    sender_id BIGINT NOT NULL REFERENCES users(id),
    content TEXT NOT NULL,
    message_type TEXT NOT NULL CHECK (message_type IN ('text', 'file', 'system')),
    reply_to_id BIGINT REFERENCES chat_messages(id),
    is_edited BOOLEAN NOT NULL DEFAULT 0,
    is_deleted BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    edited_at BIGINT
);
CREATE INDEX idx_chatmsg_room_created ON chat_messages (room_id, created_at);
CREATE INDEX idx_chatmsg_room_id ON chat_messages (room_id, id);

CREATE TABLE chat_attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BIGINT NOT NULL REFERENCES chat_messages(id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
    file_name TEXT NOT NULL,
    stored_name TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    file_type TEXT NOT NULL,
    file_extension TEXT NOT NULL,
    thumbnail_name TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_chatatt_message ON chat_attachments (message_id);
CREATE INDEX idx_chatatt_room ON chat_attachments (room_id, id);

-- One row per read mark: the message a member marked up to, and when.
CREATE TABLE chat_message_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id BIGINT NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message_id BIGINT NOT NULL REFERENCES chat_messages(id) ON DELETE CASCADE,
    read_at BIGINT NOT NULL
);
CREATE INDEX idx_chatread_user_message ON chat_message_reads (user_id, message_id);
CREATE INDEX idx_chatread_room_message ON chat_message_reads (room_id, message_id);

-- The event log: every change a client must see, in the transaction of the change.
-- Ids come from chat_event_counter so that they become visible in id order.
CREATE TABLE chat_events (
    id BIGINT PRIMARY KEY,
    room_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- the user an event concerns beyond the room's members (a removed member)
    target_user_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_chatevent_room_id ON chat_events (room_id, id);
CREATE INDEX idx_chatevent_target ON chat_events (target_user_id, id);
CREATE INDEX idx_chatevent_created ON chat_events (created_at);

CREATE TABLE chat_event_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_id BIGINT NOT NULL,
    -- events up to this id were removed by retention: older resume ids get `reset`
    pruned_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO chat_event_counter (id, last_id, pruned_through) VALUES (1, 0, 0);
