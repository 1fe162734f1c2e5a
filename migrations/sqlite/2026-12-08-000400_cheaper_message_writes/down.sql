PRAGMA writable_schema = ON;
UPDATE sqlite_schema
    SET sql = replace(sql,
        'CHECK (message_type = ''text'' OR message_type = ''file'' OR message_type = ''system'')',
        'CHECK (message_type IN (''text'', ''file'', ''system''))')
    WHERE type = 'table' AND name = 'chat_messages';
PRAGMA writable_schema = RESET;
CREATE INDEX idx_chatread_user_message ON chat_message_reads (user_id, message_id);
