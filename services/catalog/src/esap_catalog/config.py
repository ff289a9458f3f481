"""The catalog's settings, read from the environment (``CATALOG_<FIELD>``, then ``ESAP_<FIELD>``).

The only module of the catalog that reads the environment; everything else is handed a Settings.
"""

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from esap_catalog.domain.dispatch import DEFAULT_QUOTA
from esap_runtime.settings import Environment, ServiceSettings

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/esap"


class DestructionAction(StrEnum):
    ARCHIVE = "archive"
    DELETE = "delete"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", frozen=True, extra="ignore")

    http_port: int = Field(8001, ge=0, le=65535, description="Port of the catalog's internal HTTP API.")
    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL),
        description="PostgreSQL URL of the catalog's database; `migrate` creates the database if it is missing.",
    )
    pool_min: int = Field(2, ge=1, description="Connections the pool keeps open.")
    pool_max: int = Field(10, ge=1, description="Most connections the pool opens.")
    batch_size: int = Field(256, ge=1, le=5000, description="Most messages applied in one transaction.")
    batch_linger_ms: float = Field(
        25.0, ge=0, le=1000,
        description="While more than 500 messages/s arrive, how long a batch may wait in all for more messages "
                    "before it is applied: larger batches, far fewer transactions. Below that rate nothing waits.")
    max_wait_seconds: float = Field(60.0, gt=0, description="Longest a WAIT request blocks.")
    creation_grace_seconds: float = Field(
        10.0, ge=0, description="How long a GET waits for a recently made job id that is not stored yet."
    )
    workflows_dir: Path = Field(Path("workflows"), description="Directory of workflow definitions for `seed`.")
    facilities_dir: Path = Field(Path("facilities"), description="Directory of facility definitions for `seed`.")
    inbox_retention_days: float = Field(
        7.0, gt=0, description="Days a consumed message id is kept to drop its duplicates; pruned hourly."
    )
    phase_count_seconds: float = Field(
        15.0, gt=0, description="How often jobs are counted by phase for the catalog_jobs gauge."
    )
    outbox_batch_size: int = Field(500, ge=1, le=10000, description="Most outbox rows published at once.")
    outbox_sweep_seconds: float = Field(
        1.0, gt=0, description="How often the outbox is swept for rows no commit announced (after a crash)."
    )
    catalogue_cache_seconds: float = Field(
        30.0, ge=0, description="How long a workflow or facility read from the database is trusted."
    )
    list_limit: int = Field(1000, ge=1, description="Most jobs one listing returns.")
    planning_window_hours: float = Field(
        168.0, gt=0, description="Execution planning reads the queue and run times of jobs this recent."
    )
    planning_samples: int = Field(200, ge=1, description="Latest jobs per facility a planning median rests on.")
    search_limit: int = Field(200, ge=1, description="Most workflows or facilities one search page returns.")
    destruction_action: DestructionAction = Field(
        DestructionAction.ARCHIVE,
        description="What happens to a job past its destruction time: archive (ARCHIVED, results dropped, "
        "metadata kept) or delete (the job is removed).",
    )
    destruction_sweep_seconds: float = Field(
        60.0, gt=0, description="How often jobs past their destruction time are looked for."
    )
    destruction_batch_size: int = Field(
        500, ge=1, le=5000, description="Most jobs destroyed in one transaction by the sweeper."
    )

    gateway_url: str = Field(
        "http://127.0.0.1:8000",
        description="The gateway's public URL: the links to a job and its results in its notifications.")
    smtp_url: SecretStr | None = Field(
        None, description="SMTP server of the notification e-mails: smtp://[user:password@]host[:port]"
        "[?starttls=true] or smtps://...; unset: e-mail notifications fail (recorded on the job).")
    notify_from: str = Field("esap-batch@localhost", description="From address of the notification e-mails.")
    notify_allowed_urls: str = Field(
        "", description="Comma-separated URL prefixes webhooks may go to (checked at creation and at delivery); "
        "empty allows none. A private, loopback or link-local address is reached only when a prefix names it "
        "(e.g. http://127.0.0.1:).")
    notify_backoff_seconds: float = Field(10.0, gt=0, description="Wait after a failed delivery; doubled each time.")
    notify_backoff_max_seconds: float = Field(600.0, gt=0, description="Longest wait between two delivery attempts.")
    notify_retry_seconds: float = Field(
        86400.0, ge=3600, description="How long after the job's end a failing notification is still tried.")
    notify_poll_seconds: float = Field(
        5.0, gt=0, description="Longest the notifier sleeps before looking for due notifications.")
    notify_timeout_seconds: float = Field(15.0, gt=0, description="Time limit of one delivery attempt.")
    quota_active_jobs: int = Field(
        DEFAULT_QUOTA, ge=1, description="Most jobs of one owner handed to their backends at once (QUEUED there or "
        "EXECUTING; a campaign's children count, its parent does not); beyond it jobs stay QUEUED in esap-batch "
        "and are handed over oldest first as room frees. Also read as ESAP_QUOTA_ACTIVE_JOBS.")
    dispatch_prefetch: int = Field(
        64, ge=0, description="While one owner alone uses a facility, jobs handed to it beyond its max_parallel (at "
        "most as many again): they wait in the backend's own queue, so a slot that frees is taken at once, not after "
        "a round trip through the catalog. Another owner arriving finds at most these ahead of its first job; 0: none.")
    dispatch_sweep_seconds: float = Field(
        5.0, gt=0, description="How often held jobs are looked at again, whatever the batches did (a safety net).")

    @field_validator("workflows_dir", "facilities_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_default_database(self) -> Self:
        if self.environment is Environment.PRODUCTION and (
            self.database_url.get_secret_value() == DEFAULT_DATABASE_URL
        ):
            raise ValueError("database_url is the passwordless development default, refused in production")
        if self.pool_min > self.pool_max:
            raise ValueError("pool_min is larger than pool_max")
        return self
