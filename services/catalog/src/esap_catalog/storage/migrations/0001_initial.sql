-- The catalog's first schema: the catalogue (workflows, facilities), jobs with their results and phase
-- history, and the inbox/outbox that make message handling idempotent and transactional.

CREATE TABLE workflows (
    slug            text PRIMARY KEY,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    keywords        text[] NOT NULL DEFAULT '{}',
    version         text NOT NULL,
    workflow_type   text NOT NULL,
    parameters      jsonb NOT NULL DEFAULT '[]',
    run             jsonb NOT NULL,
    facility_types  text[] NOT NULL DEFAULT '{}',
    steering_file   text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE facilities (
    slug             text PRIMARY KEY,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    url              text NOT NULL DEFAULT '',
    facility_type    text NOT NULL,
    backend          text NOT NULL,
    runtime_engines  text[] NOT NULL DEFAULT '{}',
    max_parallel     integer NOT NULL CHECK (max_parallel > 0),
    status           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    job_id                    uuid PRIMARY KEY,
    owner                     text,
    run_id                    text,
    -- The names the job was asked for; the *_ref columns reference the catalogue and are NULL when the name
    -- was unknown (such a job is kept, in ERROR, rather than lost).
    workflow                  text NOT NULL,
    facility                  text NOT NULL,
    workflow_ref              text REFERENCES workflows (slug),
    facility_ref              text REFERENCES facilities (slug),
    backend                   text NOT NULL,
    parameters                jsonb NOT NULL DEFAULT '{}',
    phase                     text NOT NULL CHECK (phase IN ('PENDING', 'QUEUED', 'EXECUTING', 'COMPLETED', 'ERROR',
                                                            'ABORTED', 'UNKNOWN', 'HELD', 'SUSPENDED', 'ARCHIVED')),
    creation_time             timestamptz NOT NULL,
    start_time                timestamptz,
    end_time                  timestamptz,
    execution_duration        integer NOT NULL DEFAULT 0 CHECK (execution_duration >= 0),
    destruction               timestamptz,
    backend_job_id            text,
    dirac_status              text,
    dirac_minor_status        text NOT NULL DEFAULT '',
    dirac_application_status  text NOT NULL DEFAULT '',
    dirac_site                text NOT NULL DEFAULT '',
    status_observed_at        timestamptz,
    error_type                text CHECK (error_type IN ('transient', 'fatal')),
    error_message             text,
    callback_token_hash       bytea,
    abort_requested_at        timestamptz,
    updated_at                timestamptz NOT NULL,
    CHECK (workflow_ref IS NULL OR workflow_ref = workflow),
    CHECK (facility_ref IS NULL OR facility_ref = facility)
);

CREATE INDEX jobs_owner_creation_idx ON jobs (owner, creation_time DESC, job_id DESC);
CREATE INDEX jobs_creation_idx ON jobs (creation_time DESC, job_id DESC);
CREATE INDEX jobs_active_idx ON jobs (phase, job_id)
    WHERE phase IN ('QUEUED', 'EXECUTING', 'UNKNOWN', 'HELD', 'SUSPENDED');
CREATE INDEX jobs_workflow_ref_idx ON jobs (workflow_ref);
CREATE INDEX jobs_facility_ref_idx ON jobs (facility_ref);

CREATE TABLE job_results (
    job_id     uuid NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    result_id  text NOT NULL,
    size       bigint NOT NULL CHECK (size >= 0),
    mime_type  text NOT NULL,
    location   text NOT NULL,
    PRIMARY KEY (job_id, result_id)
);

CREATE TABLE job_phase_history (
    id              bigserial PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    phase           text NOT NULL,
    previous_phase  text,
    at              timestamptz NOT NULL,
    source          text NOT NULL,
    detail          text NOT NULL DEFAULT ''
);

CREATE INDEX job_phase_history_job_idx ON job_phase_history (job_id, id);

-- Ids of consumed messages: a redelivered or re-sent message is recognised and dropped.
CREATE TABLE inbox (
    message_id   uuid PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX inbox_received_idx ON inbox (received_at);

-- Messages committed with the change that implies them, published by the relay, then deleted.
-- The body is the encoded message, so that a re-publication is byte for byte the same.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    message_type  text NOT NULL,
    routing_key   text NOT NULL,
    body          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
