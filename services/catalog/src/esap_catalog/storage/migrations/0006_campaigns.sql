-- Campaigns: a parent job and its children; and the job a job runs again (resubmit_of, no foreign key: the
-- original may be deleted, and the new job keeps naming it). A child names its parent and holds its own swept values; a parent
-- holds how many children it has (0 for a single job). Lists show parents and single jobs by default, a campaign's
-- children on request: each has a partial index, so that a 10,000-child campaign neither slows the default list
-- nor needs a scan to list its children or count them by phase.
ALTER TABLE jobs ADD COLUMN parent_id uuid REFERENCES jobs (job_id) ON DELETE CASCADE;
ALTER TABLE jobs ADD COLUMN swept jsonb;
ALTER TABLE jobs ADD COLUMN children integer NOT NULL DEFAULT 0 CHECK (children >= 0);
ALTER TABLE jobs ADD COLUMN resubmit_of uuid;

CREATE INDEX jobs_children_phase_idx ON jobs (parent_id, phase) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_children_list_idx ON jobs (parent_id, creation_time DESC, job_id DESC) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_top_owner_creation_idx ON jobs (owner, creation_time DESC, job_id DESC) WHERE parent_id IS NULL;
CREATE INDEX jobs_top_creation_idx ON jobs (creation_time DESC, job_id DESC) WHERE parent_id IS NULL;
