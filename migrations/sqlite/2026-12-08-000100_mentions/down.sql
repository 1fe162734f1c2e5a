DROP INDEX idx_chatmsg_room_mention;
DROP TABLE chat_mentions;
ALTER TABLE chat_room_members DROP COLUMN notify;
ALTER TABLE chat_messages DROP COLUMN mentions_room;
ALTER TABLE chat_messages DROP COLUMN content_html;
