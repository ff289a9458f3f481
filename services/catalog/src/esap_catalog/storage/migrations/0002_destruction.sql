-- UWS 1.1 lifecycle and listings: the destruction sweeper finds jobs past their destruction time by an index
-- that leaves archived jobs out; listings filter by workflow, facility and runId within an owner's jobs.

CREATE INDEX jobs_destruction_idx ON jobs (destruction) WHERE phase <> 'ARCHIVED';
CREATE INDEX jobs_owner_workflow_idx ON jobs (owner, workflow, creation_time DESC, job_id DESC);
CREATE INDEX jobs_owner_run_id_idx ON jobs (owner, run_id, creation_time DESC, job_id DESC) WHERE run_id IS NOT NULL;

-- Ids of jobs removed (DELETE, or destruction set to delete): a read of a recently made id that is not stored
-- waits for it to appear, unless it is here. Pruned with the inbox.
CREATE TABLE deleted_jobs (
    job_id      uuid PRIMARY KEY,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX deleted_jobs_deleted_idx ON deleted_jobs (deleted_at);
