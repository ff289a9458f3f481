"""Execution planning, the execution broker: answers ``/uws/plan`` and picks the facility of a job created
without one.

Parameters are checked against the workflow first (the same rules as creation), then the recent times the catalog
service measured (cached for a few seconds per workflow, so a burst of plans costs one catalog request) become
offers. Must not depend on FastAPI or a concrete client: it is given the catalogue cache, the gateway's copy of
workflows and facilities (and knows the catalog port's error).
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from esap_gateway.adapters.catalog import CatalogUnavailableError
from esap_gateway.domain.errors import InvalidRequestError
from esap_gateway.domain.parameters import resolve_parameters, resolve_sweep
from esap_gateway.domain.planning import estimate, plan, refusal
from esap_gateway.domain.sweeps import parse_sweeps
from esap_gateway.domain.uws import PlanRequest
from esap_gateway.services.catalogue import CatalogueCache
from esap_messages import utcnow
from esap_messages.api import ExecutionPlan, Offer, WorkflowView


class PlanningService:
    def __init__(self, catalogue: CatalogueCache, clock: Callable[[], datetime] = utcnow, *,
                 max_sweep_children: int = 10_000) -> None:
        self._catalogue = catalogue
        self._clock = clock
        self._max_sweep_children = max_sweep_children

    async def answer(self, request: PlanRequest) -> ExecutionPlan:
        """The plan for the job ``request`` describes (WORKFLOW, EXECUTIONDURATION, the workflow's parameters)."""
        workflow = await self._catalogue.workflow(request.workflow)
        if workflow is None:
            raise InvalidRequestError("WORKFLOW", f"unknown workflow {request.workflow!r}")
        if not request.sweeps:
            return await self.plan(workflow, resolve_parameters(workflow, request.parameters),
                                   request.execution_duration)
        axes = parse_sweeps(request.sweeps, self._max_sweep_children)
        parameters, children = resolve_sweep(workflow, request.parameters, axes)
        return await self.plan(workflow, parameters, request.execution_duration, children=len(children))

    async def plan(self, workflow: WorkflowView, parameters: dict[str, str], execution_duration: int, *,
                   children: int = 1) -> ExecutionPlan:
        statistics = await self._catalogue.statistics(workflow.slug)
        if statistics is None:
            raise InvalidRequestError("WORKFLOW", f"unknown workflow {workflow.slug!r}")
        return plan(workflow, parameters, statistics.facilities, execution_duration=execution_duration,
                    now=self._clock(), children=children)

    async def quote(self, workflow: WorkflowView, facility: str, execution_duration: int, *,
                    children: int = 1) -> datetime | None:
        """The estimated end on a facility the client chose; None when it cannot be estimated now. Never fails
        the creation: a quote is information, the choice is the client's."""
        try:
            statistics = await self._catalogue.statistics(workflow.slug)
        except CatalogUnavailableError:
            return None
        stats = next((s for s in statistics.facilities if s.facility.slug == facility), None) if statistics else None
        if stats is None or refusal(workflow, stats.facility, execution_duration) is not None:
            return None
        queue, run = estimate(workflow, stats, execution_duration, children)  # the offer's end, without the plan
        return self._clock() + timedelta(seconds=queue + run)

    async def best(self, workflow: WorkflowView, parameters: dict[str, str], execution_duration: int, *,
                   children: int = 1) -> Offer:
        """The offer that ends first; refused (naming FACILITY and every facility's reason) when there is none."""
        answer = await self.plan(workflow, parameters, execution_duration, children=children)
        if not answer.offers:
            reasons = "; ".join(f"{r.facility}: {r.reason}" for r in answer.refused) or "no facility is known"
            raise InvalidRequestError("FACILITY", f"no facility can run workflow {workflow.slug!r} ({reasons})")
        return answer.offers[0]
