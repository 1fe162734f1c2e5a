DROP INDEX idx_chatevent_target;
CREATE INDEX idx_chatevent_target ON chat_events (target_user_id, id);
CREATE INDEX idx_chatevent_created ON chat_events (created_at);
CREATE INDEX idx_chatmsg_room_created ON chat_messages (room_id, created_at);
