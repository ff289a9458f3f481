-- Automatic retries (issue 20): a job's current attempt, its earlier attempts (each ended by a transient failure:
-- its backend job, times, failure class and message, oldest first) and the class of the failure that ended it;
-- each facility's number of retries. The earlier attempts travel with the job's row, read and written with it in
-- the batch transaction: the state machine needs them (an observation of an earlier attempt's backend job is
-- late) and they are few (the facility's retries, 2 by default).

ALTER TABLE jobs
    ADD COLUMN attempt             integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN attempts            jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN error_failure_class text;

ALTER TABLE facilities
    ADD COLUMN max_retries integer NOT NULL DEFAULT 2 CHECK (max_retries >= 0);
