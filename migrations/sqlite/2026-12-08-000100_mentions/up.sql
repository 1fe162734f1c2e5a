-- Formatting and mentions: the HTML a message shows, rendered when it is written (NULL for
-- messages written before, rendered when read); whether it mentions the whole room; who it
-- mentions by name; each member's notification level (NULL: the room type's default).
ALTER TABLE chat_messages ADD COLUMN content_html TEXT;
ALTER TABLE chat_messages ADD COLUMN mentions_room BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE chat_room_members ADD COLUMN notify TEXT CHECK (notify IN ('all', 'mentions', 'none'));
CREATE TABLE chat_mentions (
    message_id BIGINT NOT NULL REFERENCES chat_messages(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX idx_chatmention_user ON chat_mentions (user_id, message_id);
CREATE INDEX idx_chatmsg_room_mention ON chat_messages (room_id, id) WHERE mentions_room;
