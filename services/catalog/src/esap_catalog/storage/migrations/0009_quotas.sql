-- Per-user quotas and fair share (issue 21, item 2). A QUEUED job is either handed to its backend (held NULL) or
-- held in esap-batch (held: why, as its jobInfo shows it) because its owner is at quota or its facility has no
-- free slot; the catalog's dispatcher hands held jobs over as room frees. Active = QUEUED and not held, or
-- EXECUTING; a campaign's parent (children > 0) is never submitted and never counts.
-- (0008 is another change's: the migrator applies pending versions by set difference, so a gap is fine.)

ALTER TABLE jobs ADD COLUMN held text;

-- The counts the dispatcher reads at every batch that queues or ends jobs: an owner's, a facility's (and an
-- owner's on a facility) active jobs. Bounded by the quota and the facility's max_parallel, so cheap.
CREATE INDEX jobs_active_owner_idx ON jobs (COALESCE(owner, ''), facility)
    WHERE held IS NULL AND children = 0 AND phase IN ('QUEUED', 'EXECUTING');
CREATE INDEX jobs_active_facility_idx ON jobs (facility, COALESCE(owner, ''))
    WHERE held IS NULL AND children = 0 AND phase IN ('QUEUED', 'EXECUTING');
-- The held jobs, per facility and owner, oldest first: what a release picks from.
CREATE INDEX jobs_held_idx ON jobs (facility, COALESCE(owner, ''), creation_time, job_id)
    WHERE held IS NOT NULL;
CREATE INDEX jobs_held_owner_idx ON jobs (COALESCE(owner, ''), facility) WHERE held IS NOT NULL;
