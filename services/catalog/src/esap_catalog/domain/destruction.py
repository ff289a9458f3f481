"""What a client may change after creation, and the end of a job: UpdateJob, DeleteJob and DestroyJob.

UWS lets a client change parameters and execution duration while the job is PENDING, and its destruction time
while it is not archived. A job is destroyed by its owner (DeleteJob: its row goes) or when its destruction
time passes (DestroyJob: ARCHIVED, results dropped and metadata kept, or removed, as the catalog is set up).
A job still in its backend's hands is killed first. Every destruction emits JobPhaseChanged to ARCHIVED, so
that subscribers (the monitor) stop tracking the job.
No I/O. Depends on esap_messages and the domain only.
"""

from dataclasses import replace
from typing import Any

from esap_catalog.domain.model import Decision, DestroyJob, Job
from esap_catalog.domain.transitions import Env, kill, move, not_owner
from esap_messages import ACTIVE_PHASES, DeleteJob, Message, Phase, UpdateJob

SOURCE_OWNER = "gateway"
SOURCE_SWEEPER = "catalog"


def update(job: Job, m: UpdateJob, env: Env) -> Decision:
    if not_owner(job, m.owner):
        return Decision(job, ignored="not_owner")
    if job.phase is Phase.ARCHIVED:
        return Decision(job, ignored="final")
    changes: dict[str, Any] = {}
    if m.parameters is not None and job.children:
        return Decision(job, ignored="not_applicable")  # a campaign's children hold their own parameters
    if m.parameters is not None or m.execution_duration is not None:
        if job.phase is not Phase.PENDING:
            return Decision(job, ignored="not_applicable")
        if m.parameters is not None:
            changes["parameters"] = dict(m.parameters)
        if m.execution_duration is not None:
            changes["execution_duration"] = m.execution_duration
    if m.destruction is not None:
        changes["destruction"] = m.destruction
    if all(getattr(job, name) == value for name, value in changes.items()):
        return Decision(job, ignored="duplicate")
    return Decision(replace(job, updated_at=env.now, **changes), changed=True)


def delete(job: Job, m: DeleteJob, env: Env) -> Decision:
    if not_owner(job, m.owner):
        return Decision(job, ignored="not_owner")
    return _destroy(job, env, remove=True, source=SOURCE_OWNER, detail="deleted by its owner")


def destroy(job: Job, m: DestroyJob, env: Env) -> Decision:
    """Guarded: the destruction time may have been moved since the sweeper picked the job."""
    if job.destruction is None or job.destruction > env.now:
        return Decision(job, ignored="not_applicable")
    if job.phase is Phase.ARCHIVED and not m.remove:
        return Decision(job, ignored="final")
    return _destroy(job, env, remove=m.remove, source=SOURCE_SWEEPER, detail="its destruction time passed")


def _destroy(job: Job, env: Env, *, remove: bool, source: str, detail: str) -> Decision:
    # A campaign's parent has no backend job: its children, destroyed with it, are killed each.
    kills: tuple[Message, ...] = (
        (kill(job),) if job.phase in ACTIVE_PHASES and not job.children and job.held is None else ())
    if job.phase is Phase.ARCHIVED:
        return Decision(job, changed=True, deleted=True)
    new, entry, event = move(job, Phase.ARCHIVED, env, source=source, detail=detail,
                             end_time=job.end_time or env.now, held=None)
    if remove:
        return Decision(new, changed=True, deleted=True, outbox=(*kills, event))
    return Decision(new, changed=True, history=(entry,), outbox=(*kills, event), results=())
