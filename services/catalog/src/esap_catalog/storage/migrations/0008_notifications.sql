-- Notifications (issue 21): a job's NOTIFY targets travel with its row (NULL when it has none, so a job without
-- them costs nothing more); when the job (a campaign: its parent) reaches a final phase, the batch transaction
-- that moves it writes one notifications row per target, with the document to send, and the catalog's notifier
-- delivers them afterwards (at least once: each row's id is the delivery's idempotency key).
-- Accounts hold what belongs to an owner rather than to a job: the webhook signing secret, the e-mail address
-- their token last showed, their default NOTIFY targets. Made on first use.

ALTER TABLE jobs ADD COLUMN notify jsonb;

CREATE TABLE accounts (
    owner          text PRIMARY KEY,
    webhook_secret text NOT NULL,
    email          text,
    notify         jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    job_id          uuid NOT NULL,  -- no foreign key: a job deleted after its end is still told of
    owner           text,
    target          text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('mail', 'webhook')),
    phase           text NOT NULL,
    document        jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    failed_at       timestamptz,  -- given up (retries exhausted) or refused (a destination not allowed)
    last_error      text,
    UNIQUE (job_id, target)
);

-- The notifier's claim and its count of what is pending read only undelivered rows.
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
