"""Execution planning: which facilities can run a workflow, and when a job would start and end on each.

In the spirit of the IVOA ExecutionBroker draft: an offer per able facility, with an estimated start (now plus
the facility's recent median queue time, or its assumed one, lengthened when it is full) and end (start plus the
workflow's recent median run time there, or its assumed one, capped by the execution duration asked for).
The best offer ends first. A facility that cannot run the workflow is never offered, and the answer says why.
Must not depend on I/O: pure functions over the catalog's statistics.
"""

import math
from datetime import datetime, timedelta

from esap_messages.api import ExecutionPlan, FacilityStatistics, FacilityView, Offer, Refusal, WorkflowView

ONLINE = "online"


def refusal(workflow: WorkflowView, facility: FacilityView, execution_duration: int) -> str | None:
    """Why the facility cannot take this job, or None when it can."""
    if workflow.facility_types and facility.facility_type not in workflow.facility_types:
        return (f"workflow {workflow.slug!r} runs on facilities of type {', '.join(workflow.facility_types)}, "
                f"not {facility.facility_type!r}")
    if not workflow.runtime.runs_on(facility.runtime_engines):
        return (f"workflow {workflow.slug!r} needs the {workflow.runtime.engine.value} runtime; the facility "
                f"offers {', '.join(facility.runtime_engines) or 'none'}")
    if facility.status != ONLINE:
        return f"the facility is {facility.status} and takes no new jobs"
    limit = facility.max_execution_duration
    if limit and execution_duration > limit:
        return f"the facility runs jobs for at most {limit} s; {execution_duration} s was asked"
    return None


def estimate(workflow: WorkflowView, stats: FacilityStatistics, execution_duration: int,
             children: int = 1) -> tuple[float, float]:
    """Seconds the job would wait, then run, on the facility of ``stats``. A campaign of ``children`` runs in waves
    of the facility's ``max_parallel``: its run is that many runs of one child."""
    facility = stats.facility
    queue = stats.queue_seconds if stats.queue_seconds is not None else float(facility.expected_queue_seconds)
    run = stats.run_seconds if stats.run_seconds is not None else float(workflow.expected_run_seconds)
    for limit in (execution_duration, facility.max_execution_duration):
        if limit > 0:
            run = min(run, float(limit))
    if stats.active >= facility.max_parallel:
        # Every slot is taken: this job waits for its share of the jobs ahead of it to end.
        queue += run * (stats.active - facility.max_parallel + 1) / facility.max_parallel
    return queue, run * math.ceil(children / facility.max_parallel)


def offer(workflow: WorkflowView, stats: FacilityStatistics, execution_duration: int, now: datetime,
          children: int = 1) -> Offer:
    facility = stats.facility
    queue, run = estimate(workflow, stats, execution_duration, children)
    start = now + timedelta(seconds=queue)
    history = stats.queue_seconds is not None or stats.run_seconds is not None
    return Offer(
        facility=facility.slug, facility_name=facility.name, facility_type=facility.facility_type,
        runtime_engine=workflow.runtime.engine.value, estimated_start=start,
        estimated_end=start + timedelta(seconds=run), queue_seconds=round(queue, 3), run_seconds=round(run, 3),
        basis="history" if history else "default",
    )


def plan(workflow: WorkflowView, parameters: dict[str, str], facilities: list[FacilityStatistics], *,
         execution_duration: int, now: datetime, children: int = 1) -> ExecutionPlan:
    offers, refused = [], []
    for stats in facilities:
        reason = refusal(workflow, stats.facility, execution_duration)
        if reason is None:
            offers.append(offer(workflow, stats, execution_duration, now, children))
        else:
            refused.append(Refusal(facility=stats.facility.slug, reason=reason))
    offers.sort(key=lambda o: (o.estimated_end, o.estimated_start, o.facility))
    return ExecutionPlan(workflow=workflow.slug, parameters=parameters, offers=offers, refused=refused,
                         children=children)
