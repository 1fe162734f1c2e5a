-- The search text of a message, computed for the generated column of every row written.
-- As a SQL function it could not be inlined (an IMMUTABLE function over the STABLE
-- unaccent()), so PostgreSQL parsed and planned its body again for every statement that
-- wrote a message; PL/pgSQL keeps its plan for the session. Same result, same name.
DO $migration$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'unaccent';
    EXECUTE format(
        $f$CREATE OR REPLACE FUNCTION causerie_search_text(text) RETURNS text
            LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
            AS $body$ BEGIN RETURN pg_catalog.regexp_replace(%I.unaccent(%L::regdictionary, $1), '[^[:alnum:]]+', ' ', 'g'); END $body$$f$,
        ext_schema, ext_schema || '.unaccent');
END
$migration$;
