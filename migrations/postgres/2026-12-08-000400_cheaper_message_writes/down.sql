CREATE INDEX idx_chatread_user_message ON chat_message_reads (user_id, message_id);
