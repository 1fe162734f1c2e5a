-- Full-text search over messages. The index reads its text from chat_messages (external
-- content) and holds only what search may find: neither deleted nor system messages.
-- Triggers keep it current in the transaction of every send, edit and delete. Results are
-- ordered by id, never ranked, so the index keeps no column sizes (a write fewer per message).
CREATE VIRTUAL TABLE chat_messages_fts USING fts5(
    content,
    content = 'chat_messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    columnsize = 0
);

INSERT INTO chat_messages_fts (rowid, content)
    SELECT id, content FROM chat_messages WHERE NOT is_deleted AND message_type <> 'system';

CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages
WHEN NOT new.is_deleted AND new.message_type <> 'system'
BEGIN
    INSERT INTO chat_messages_fts (rowid, content) VALUES (new.id, new.content);
END;

-- An external-content index forgets a row by being told the text it indexed.
CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF content, is_deleted, message_type ON chat_messages
BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content)
        SELECT 'delete', old.id, old.content WHERE NOT old.is_deleted AND old.message_type <> 'system';
    INSERT INTO chat_messages_fts (rowid, content)
        SELECT new.id, new.content WHERE NOT new.is_deleted AND new.message_type <> 'system';
END;

CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages
WHEN NOT old.is_deleted AND old.message_type <> 'system'
BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
