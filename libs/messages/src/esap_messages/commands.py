"""Commands: imperative messages with one intended handler.

Gateway -> catalog: CreateJob, CreateCampaign, RunJob, AbortJob, UpdateJob, DeleteJob.
Catalog -> submitter: SubmitJob, KillJob.
Depends on pydantic only.
"""

from typing import ClassVar
from uuid import UUID

from pydantic import Field, SecretStr, field_serializer

from esap_messages.base import Message, UtcDatetime
from esap_messages.model import ContainerRuntime, WorkflowRun

Owner = str | None


class CreateJob(Message):
    """Create a UWS job, PENDING, or QUEUED at once when ``run`` is set (PHASE=RUN on creation)."""

    routing_key: ClassVar[str] = "catalog.create_job"
    schema_version: ClassVar[int] = 3  # 2: resubmit_of; 3: notify

    job_id: UUID
    owner: Owner = None
    workflow: str = Field(min_length=1, max_length=128)
    facility: str = Field(min_length=1, max_length=128)
    parameters: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = Field(default=None, max_length=256)
    execution_duration: int = Field(default=0, ge=0, description="Seconds; 0 means unlimited.")
    destruction: UtcDatetime | None = None
    run: bool = False
    quote: UtcDatetime | None = Field(default=None, description="The planned end (UWS quote), when planned.")
    resubmit_of: UUID | None = Field(default=None, description="The job this one runs again (with changes).")
    notify: list[str] = Field(default_factory=list, max_length=10, description=(
        "NOTIFY targets (mailto:<address> or an http(s) webhook URL), told once when the job (a campaign: the "
        "parent, never a child) reaches a final phase; checked by the gateway (esap_messages.notify)."))


MAX_CAMPAIGN_CHILDREN = 100_000
"""The most children one campaign message may carry; a deployment's own limit (the gateway's
``max_sweep_children``) is lower."""


class CreateCampaign(CreateJob):
    """Create a campaign: a parent UWS job (``job_id``) and one child job per entry of ``children``, each with the
    common ``parameters`` and its own swept values over them. The catalog makes the children in the same
    transaction, with ids derived from the parent's and the child's index (a replay makes none twice); RunJob,
    AbortJob, DeleteJob and a destruction on the parent act on every child."""

    routing_key: ClassVar[str] = "catalog.create_campaign"

    children: list[dict[str, str]] = Field(min_length=1, max_length=MAX_CAMPAIGN_CHILDREN,
                                           description="Each child's swept values, in order.")


class RunJob(Message):
    """PHASE=RUN: queue a PENDING job."""

    routing_key: ClassVar[str] = "catalog.run_job"

    job_id: UUID
    owner: Owner = None


class AbortJob(Message):
    """PHASE=ABORT: stop a job wherever it is."""

    routing_key: ClassVar[str] = "catalog.abort_job"

    job_id: UUID
    owner: Owner = None


class UpdateJob(Message):
    """Change what a UWS client may change: parameters and execution duration (while PENDING), destruction.

    A field left ``None`` is not changed. ``parameters`` is the job's complete new set (already checked against
    the workflow by the sender).
    """

    routing_key: ClassVar[str] = "catalog.update_job"

    job_id: UUID
    owner: Owner = None
    parameters: dict[str, str] | None = None
    execution_duration: int | None = Field(default=None, ge=0, description="Seconds; 0 means unlimited.")
    destruction: UtcDatetime | None = None


class DeleteJob(Message):
    """DELETE: destroy the job (killing it first if it runs); it is gone from the catalog afterwards."""

    routing_key: ClassVar[str] = "catalog.delete_job"

    job_id: UUID
    owner: Owner = None


class SubmitJob(Message):
    """Hand an accepted job to its facility's backend.

    Carries the job's raw callback token; only its hash is stored. It is the one secret on the bus.
    """

    routing_key: ClassVar[str] = "submitter.submit_job"
    schema_version: ClassVar[int] = 3  # 2: runtime; 3: attempt

    job_id: UUID
    owner: Owner = None
    facility: str
    backend: str = Field(description="Backend kind of the facility: local, diracx, dirac.")
    attempt: int = Field(default=1, ge=1, description="1 for the first submission; each automatic retry after a "
                         "transient failure counts one more. A backend makes one backend job per job and attempt.")
    workflow: WorkflowRun
    runtime: ContainerRuntime | None = Field(
        default=None, description="The workflow's container, from the catalogue; None: it names none (a plain "
        "process, or the facility's default container).")
    parameters: dict[str, str]
    execution_duration: int = Field(ge=0)
    callback_token: SecretStr

    @field_serializer("callback_token", when_used="json")
    def _reveal_token(self, token: SecretStr) -> str:
        return token.get_secret_value()


class KillJob(Message):
    """Kill a job on its backend and confirm by reading its status back."""

    routing_key: ClassVar[str] = "submitter.kill_job"

    job_id: UUID
    facility: str
    backend: str
    backend_job_id: str | None = None
    reason: str = "aborted by its owner"
    attempt: int = Field(default=1, ge=1, description="The attempt to kill when ``backend_job_id`` is not known yet.")


CATALOG_COMMANDS: tuple[type[Message], ...] = (CreateJob, CreateCampaign, RunJob, AbortJob, UpdateJob, DeleteJob)
"""The commands the catalog handles (from the gateway), in the order the registry and the topology list them."""

SUBMITTER_COMMANDS: tuple[type[Message], ...] = (SubmitJob, KillJob)
"""The commands the submitter handles (from the catalog)."""
