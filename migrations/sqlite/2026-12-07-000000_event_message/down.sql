DROP INDEX idx_chatmsg_reply;
DROP INDEX idx_chatevent_message;
ALTER TABLE chat_events DROP COLUMN message_id;
