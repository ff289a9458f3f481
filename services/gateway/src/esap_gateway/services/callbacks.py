"""A running job's report about itself: authenticate it by its callback token, then tell the bus.

The token is checked by the catalog (which holds its hash); a final report (Done, Failed, Killed) consumes it.
A refused token is refused the same way whether the job exists or not. The report is a hint (``JobReported``);
only the backend's own status ends a job. An accepted report of the status the catalog knows already (the local
executor's Running, once its submitter said so) is no news: it is answered as accepted and not published.
Reports come one per request (a job calling back), or many jobs' at once (``report_many``: the local executor),
each checked against its own job's token; concurrent checks reach the catalog together.
Must not depend on FastAPI or on a concrete client: it is given the ports.
"""

import asyncio
import re
from typing import NoReturn
from uuid import UUID

import structlog
from pydantic import ValidationError

from esap_gateway.adapters.catalog import CatalogClient, CatalogUnavailableError
from esap_gateway.adapters.publisher import Publisher, PublishFailedError
from esap_gateway.domain.errors import InvalidReportError, NotAllowedError, UnauthenticatedError
from esap_gateway.metrics import CallbackOutcome, GatewayMetrics
from esap_messages import CALLBACK_END_STATUSES, JobReported, utcnow
from esap_messages.api import (
    CallbackBatch,
    CallbackReport,
    CallbackVerdict,
    CallbackVerification,
    JobCallback,
    ReportOutcome,
    ReportOutcomes,
)

log = structlog.get_logger("esap.gateway.callbacks")

_BEARER = re.compile(r"Bearer +([\x21-\x7e]{16,256})", re.IGNORECASE)
_REFUSED = "The callback was not accepted."


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None`` when absent or malformed."""
    match = _BEARER.fullmatch(authorization.strip()) if authorization else None
    return match.group(1) if match else None


class CallbackService:
    def __init__(self, catalog: CatalogClient, publisher: Publisher, metrics: GatewayMetrics) -> None:
        self._catalog = catalog
        self._publisher = publisher
        self._metrics = metrics

    def refuse_unauthenticated(self) -> NoReturn:
        """A report sent without a well-formed credential: refused before its body is read."""
        self._count(CallbackOutcome.UNAUTHORIZED)
        raise UnauthenticatedError("Send the job's callback token as 'Authorization: Bearer <token>'.")

    async def report(self, job_id: str, token: str, body: bytes) -> None:
        """A job's report (the JSON body), presented with ``token``, its callback token from the bearer header."""
        try:
            await self._report(job_id, token, body)
        except UnauthenticatedError:
            self._count(CallbackOutcome.UNAUTHORIZED)
            raise
        except InvalidReportError:
            self._count(CallbackOutcome.INVALID)
            raise
        except NotAllowedError as exc:
            self._count(CallbackOutcome.LATE if isinstance(exc, _LateReportError) else CallbackOutcome.FORBIDDEN)
            raise
        except (CatalogUnavailableError, PublishFailedError):
            self._count(CallbackOutcome.UNAVAILABLE)
            raise
        self._count(CallbackOutcome.ACCEPTED)

    async def _report(self, job_id: str, token: str, body: bytes) -> None:
        try:
            report = CallbackReport.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidReportError(_describe(exc)) from None
        try:
            uuid = UUID(job_id)
        except ValueError:
            raise NotAllowedError(_REFUSED) from None
        final = report.status in CALLBACK_END_STATUSES
        verified = await self._catalog.verify_callback(CallbackVerification(job_id=uuid, token=token, final=final))
        if not verified.accepted or verified.phase is None:
            log.info("Callback refused.", job_id=job_id, status=report.status.value, late=verified.ended)
            raise (_LateReportError if verified.ended else NotAllowedError)(_REFUSED)
        news = is_news(report, verified)
        if news:
            await self._publisher.publish(_reported(JobCallback(job_id=uuid, token=token, report=report)))
        log.info("Callback accepted.", job_id=job_id, status=report.status.value, final=final,
                 phase=verified.phase.value, published=news)

    async def report_many(self, body: bytes) -> ReportOutcomes:
        """Many jobs' reports; InvalidReportError if the batch is malformed, else one outcome per report."""
        try:
            batch = CallbackBatch.model_validate_json(body)
        except ValidationError as exc:
            self._count(CallbackOutcome.INVALID)
            raise InvalidReportError(_describe(exc)) from None
        try:
            verified = await self._catalog.verify_callbacks([CallbackVerification(
                job_id=item.job_id, token=item.token, final=item.report.status in CALLBACK_END_STATUSES)
                for item in batch.reports])
            accepted = [(item, verdict) for item, verdict in zip(batch.reports, verified, strict=True)
                        if verdict.accepted]
            news = [item for item, verdict in accepted if is_news(item.report, verdict)]
            await asyncio.gather(*(self._publisher.publish(_reported(item)) for item in news))
        except (CatalogUnavailableError, PublishFailedError):
            self._count(CallbackOutcome.UNAVAILABLE, len(batch.reports))
            raise
        late = sum(1 for verdict in verified if not verdict.accepted and verdict.ended)
        self._count(CallbackOutcome.ACCEPTED, len(accepted))
        self._count(CallbackOutcome.LATE, late)
        self._count(CallbackOutcome.FORBIDDEN, len(batch.reports) - len(accepted) - late)
        log.info("Callback batch taken.", reports=len(batch.reports), accepted=len(accepted), late=late,
                 published=len(news))
        return ReportOutcomes(outcomes=[
            ReportOutcome(job_id=item.job_id, accepted=verdict.accepted, late=not verdict.accepted and verdict.ended)
            for item, verdict in zip(batch.reports, verified, strict=True)])

    def _count(self, outcome: CallbackOutcome, times: int = 1) -> None:
        if times:
            self._metrics.callbacks.labels(outcome.value).inc(times)


class _LateReportError(NotAllowedError):
    """Refused like any other refusal (403), counted apart: the token was right, the job had ended."""


def is_news(report: CallbackReport, verified: CallbackVerdict) -> bool:
    """Whether an accepted report can change what the catalog knows: an end always can (it consumed the token),
    another status only when it differs from the backend status the catalog holds."""
    return report.status in CALLBACK_END_STATUSES or report.status is not verified.dirac_status


def _reported(item: JobCallback) -> JobReported:
    report = item.report
    return JobReported(job_id=item.job_id, status=report.status, reported_at=utcnow(), started_at=report.started_at,
                       ended_at=report.ended_at, exit_code=report.exit_code, message=report.message)


def _describe(error: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:5]]
    return "Invalid report. " + "; ".join(problems)
