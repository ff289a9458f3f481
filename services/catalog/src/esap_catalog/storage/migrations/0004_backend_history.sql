-- Each job's history as its backend logs it (DIRAC's logging info: status, minor and application status, when,
-- who), beside the catalog's own phase history. The monitor sends a job's whole history with its changes, so
-- the same entries arrive again and again: the key (a digest of the entry's texts, computed by the writer, with
-- the job and the time) makes a repeated entry add nothing.

CREATE TABLE job_backend_history (
    id                  bigserial NOT NULL,
    job_id              uuid NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    status_time         timestamptz NOT NULL,
    entry_digest        bytea NOT NULL,
    status              text NOT NULL,
    minor_status        text NOT NULL DEFAULT '',
    application_status  text NOT NULL DEFAULT '',
    source              text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, status_time, entry_digest)
);
