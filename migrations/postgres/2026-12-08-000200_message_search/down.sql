DROP INDEX idx_chatmsg_search;
ALTER TABLE chat_messages DROP COLUMN search_vector;
DROP FUNCTION causerie_search_text(text);
-- The unaccent extension stays: something else may use it.
