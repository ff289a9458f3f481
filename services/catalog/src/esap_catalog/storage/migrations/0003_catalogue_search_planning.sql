-- The catalogue grows: a workflow's runtime and expected run time; a facility's limits, queue-time assumption
-- and connection settings (references to secrets, never the secrets); a job's quote (its planned end).
-- Ranked full-text search over name (A), keywords (B) and description (C), and an index for the recent run
-- times that execution planning reads.

ALTER TABLE workflows
    ADD COLUMN runtime               jsonb NOT NULL DEFAULT '{"engine": "process", "image": null}',
    ADD COLUMN expected_run_seconds  integer NOT NULL DEFAULT 60 CHECK (expected_run_seconds >= 0);

ALTER TABLE facilities
    ADD COLUMN max_execution_duration  integer NOT NULL DEFAULT 0 CHECK (max_execution_duration >= 0),
    ADD COLUMN expected_queue_seconds  integer NOT NULL DEFAULT 60 CHECK (expected_queue_seconds >= 0),
    ADD COLUMN secrets                 jsonb NOT NULL DEFAULT '{}';

ALTER TABLE jobs ADD COLUMN quote timestamptz;

-- array_to_string is only STABLE; over text[] it does not depend on any setting, so this wrapper may be
-- IMMUTABLE, as a generated column requires.
CREATE FUNCTION catalogue_words(words text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN array_to_string(words, ' ');

ALTER TABLE workflows ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, name), 'A')
    || setweight(to_tsvector('english'::regconfig, catalogue_words(keywords)), 'B')
    || setweight(to_tsvector('english'::regconfig, description), 'C')) STORED;

ALTER TABLE facilities ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, name), 'A')
    || setweight(to_tsvector('english'::regconfig, facility_type || ' ' || catalogue_words(runtime_engines)), 'B')
    || setweight(to_tsvector('english'::regconfig, description), 'C')) STORED;

CREATE INDEX workflows_search_idx ON workflows USING gin (search);
CREATE INDEX facilities_search_idx ON facilities USING gin (search);

CREATE INDEX jobs_facility_start_idx ON jobs (facility, start_time DESC) WHERE start_time IS NOT NULL;
CREATE INDEX jobs_workflow_facility_end_idx ON jobs (workflow, facility, end_time DESC)
    WHERE phase = 'COMPLETED' AND end_time IS NOT NULL;
