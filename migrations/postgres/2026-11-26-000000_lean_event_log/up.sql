-- Fewer index entries written per message: the index of events addressed to a user holds
-- only those events; retention walks the log in id order instead of keeping an index on
-- created_at; and nothing reads messages by (room_id, created_at).
DROP INDEX idx_chatmsg_room_created;
DROP INDEX idx_chatevent_created;
DROP INDEX idx_chatevent_target;
CREATE INDEX idx_chatevent_target ON chat_events (target_user_id, id) WHERE target_user_id IS NOT NULL;
