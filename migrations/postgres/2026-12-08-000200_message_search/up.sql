-- Full-text search over messages: the `simple` configuration (no stemming, no stop words,
-- lower case) over the text with its accents removed and every run of characters that are
-- neither letters nor digits made one space, so that words split where SQLite's unicode61
-- tokenizer splits them (the default parser would keep e-mail addresses, host names and
-- hyphenated words whole).
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is STABLE (its rules file could change); an index needs an IMMUTABLE
-- function, so this wrapper names the dictionary and the extension's schema explicitly
-- and promises that the rules stay put (after changing them, rebuild the column).
DO $migration$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'unaccent';
    EXECUTE format(
        $f$CREATE FUNCTION causerie_search_text(text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $body$ SELECT pg_catalog.regexp_replace(%I.unaccent(%L::regdictionary, $1), '[^[:alnum:]]+', ' ', 'g') $body$$f$,
        ext_schema, ext_schema || '.unaccent');
END
$migration$;

-- Generated, so it is current in the transaction of every send, edit and delete, and
-- filled for the existing rows now; null for what search must never find.
ALTER TABLE chat_messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    CASE WHEN is_deleted OR message_type = 'system' THEN NULL
         ELSE to_tsvector('simple'::regconfig, causerie_search_text(content)) END
) STORED;

CREATE INDEX idx_chatmsg_search ON chat_messages USING gin (search_vector);
