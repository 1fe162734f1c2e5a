DO $migration$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'unaccent';
    EXECUTE format(
        $f$CREATE OR REPLACE FUNCTION causerie_search_text(text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $body$ SELECT pg_catalog.regexp_replace(%I.unaccent(%L::regdictionary, $1), '[^[:alnum:]]+', ' ', 'g') $body$$f$,
        ext_schema, ext_schema || '.unaccent');
END
$migration$;
