-- The message an event shows (its own, or a room's last message), so that editing or
-- deleting a message can rewrite every stored event that shows its earlier text, and the
-- replies that quote it.
ALTER TABLE chat_events ADD COLUMN message_id BIGINT;
UPDATE chat_events SET message_id = (payload::jsonb ->> 'id')::bigint
    WHERE kind IN ('new_message', 'message_updated');
UPDATE chat_events SET message_id = (payload::jsonb -> 'last_message' ->> 'id')::bigint
    WHERE kind = 'room_updated';
CREATE INDEX idx_chatevent_message ON chat_events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX idx_chatmsg_reply ON chat_messages (reply_to_id) WHERE reply_to_id IS NOT NULL;
