"""The set of active jobs the monitor polls, and what it last knew of each: pure state, no I/O, no clock.

Fed by the catalog (a full list at start and at every resync) and by the bus (JobSubmitted, JobReported and the
final phases' JobPhaseChanged); read by the poller, which asks what to poll, which statuses are changes, and
records what it saw.
A job report makes the job due for an immediate poll, except on backends whose submitter reports the
starts and ends it sees itself (the local executor): there the report only updates what is known, and the
regular poll remains the check. Times are monotonic seconds passed in by the caller. Depends on esap_messages
and esap_backends' types only.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from esap_backends import BackendStatus
from esap_messages import (
    BACKEND_PHASES,
    FINAL_PHASES,
    DiracStatus,
    JobPhaseChanged,
    JobReported,
    JobSubmitted,
    Message,
)
from esap_messages.api import ActiveJob

Signature = tuple[str, str, str, str]


@dataclass(eq=False, slots=True)
class TrackedJob:
    """One active job. ``known_signature`` is None while only the status is known (from the catalog, the
    submitter or the job's own report), in which case only a different status counts as a change."""

    job_id: UUID
    backend: str
    facility: str
    backend_job_id: str
    known_status: DiracStatus | None = None
    known_signature: Signature | None = None
    touched_at: float = 0.0
    final_sent_at: float | None = None
    tracked: bool = True

    def is_change(self, status: BackendStatus) -> bool:
        if self.known_signature is not None:
            return status.signature() != self.known_signature
        return status.status != self.known_status


@dataclass(frozen=True, slots=True)
class PollTarget:
    """One job to ask its backend about, as it stood when the poll began."""

    job: TrackedJob
    backend_job_id: str

    @property
    def job_id(self) -> UUID:
        return self.job.job_id

    @property
    def current(self) -> bool:
        """Still tracked, under the same backend job id, and not ended yet: what was seen still applies."""
        job = self.job
        return job.tracked and job.final_sent_at is None and job.backend_job_id == self.backend_job_id


@dataclass(frozen=True)
class ResyncOutcome:
    added: int
    dropped: int
    republish: int
    unknown_facility: int = 0
    """Jobs heard of on a facility that not even the catalog's list, read well after, holds: not tracked."""


class Tracker:
    def __init__(self, *, catalog_lag_seconds: float, self_reporting: frozenset[str] = frozenset()) -> None:
        self._lag = catalog_lag_seconds
        self._self_reporting = self_reporting
        self._jobs: dict[UUID, TrackedJob] = {}
        self._due: set[UUID] = set()
        self._backend_of_facility: dict[str, str] = {}
        # Jobs removed by a final phase: a resync answer older than the removal must not bring them back.
        self._removed: dict[UUID, float] = {}
        # JobSubmitted on a facility added since the last sync: placed once a sync tells its backend.
        self._unplaced: dict[UUID, tuple[JobSubmitted, float]] = {}
        # Reports that arrived before the job's JobSubmitted (a quick job can call back first).
        self._early_reports: dict[UUID, tuple[JobReported, float]] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: UUID) -> TrackedJob | None:
        return self._jobs.get(job_id)

    @property
    def due_count(self) -> int:
        return len(self._due)

    @property
    def wants_facilities(self) -> bool:
        """A job was submitted on a facility whose backend is not known yet: a sync should come soon."""
        return bool(self._unplaced)

    def learn_facilities(self, backend_of_facility: Iterable[tuple[str, str]]) -> None:
        """Learn (facility, backend) pairs, and track the jobs that waited for them. The others wait on (the
        facility may have been added after the catalog's list was read) until a resync finds them too old."""
        self._backend_of_facility.update(backend_of_facility)
        unplaced, self._unplaced = self._unplaced, {}
        for event, at in unplaced.values():
            self.submitted(event, at)

    # --- from the bus -------------------------------------------------------------------------------------

    def apply(self, messages: Sequence[Message], now: float) -> bool:
        """Apply bus messages in order; True when a job is now due for an immediate poll."""
        for message in messages:
            match message:
                case JobSubmitted():
                    self.submitted(message, now)
                case JobPhaseChanged():
                    self.phase_changed(message, now)
                case JobReported():
                    self.reported(message, now)
                case _:
                    pass
        return bool(self._due)

    def submitted(self, event: JobSubmitted, now: float) -> None:
        if event.job_id in self._removed:
            return
        backend = self._backend_of_facility.get(event.facility)
        if backend is None:
            self._unplaced[event.job_id] = (event, now)
            return
        job = self._upsert(event.job_id, backend, event.facility, event.backend_job_id, now)
        if job.known_status is None:
            job.known_status = event.status
        self._apply_early_report(job)

    def phase_changed(self, event: JobPhaseChanged, now: float) -> None:
        self._backend_of_facility[event.facility] = event.backend
        if event.phase in FINAL_PHASES:
            self._remove(event.job_id, now)
            return
        # The monitor's queue binds only the final phases; others still come from a queue filled while an earlier
        # release bound them all, and are taken for what they say.
        if event.phase not in BACKEND_PHASES or event.backend_job_id is None or event.job_id in self._removed:
            return
        job = self._upsert(event.job_id, event.backend, event.facility, event.backend_job_id, now)
        if job.known_status is None:
            job.known_status = event.dirac_status
        self._apply_early_report(job)

    def reported(self, event: JobReported, now: float) -> None:
        job = self._jobs.get(event.job_id)
        if job is None:
            if event.job_id not in self._removed:
                self._early_reports[event.job_id] = (event, now)
            return
        self._take_report(job, event)

    # --- from the catalog ---------------------------------------------------------------------------------

    def resync(self, active: Sequence[ActiveJob], started: float) -> ResyncOutcome:
        """Make the set match the catalog's list, read from ``started`` on.

        Jobs heard of within the catalog's lag before ``started`` stay even when unlisted (the catalog may not
        have stored them yet). A listed job whose final status was sent well before ``started`` is polled and
        published again: that event, or the catalog's answer to it, was lost.
        """
        listed: set[UUID] = set()
        added = republish = 0
        settled = started - self._lag
        for entry in active:
            self._backend_of_facility.setdefault(entry.facility, entry.backend)
            listed.add(entry.job_id)
            if self._removed.get(entry.job_id, float("-inf")) >= started:
                continue
            job = self._jobs.get(entry.job_id)
            if job is None:
                self._removed.pop(entry.job_id, None)
                job = self._upsert(entry.job_id, entry.backend, entry.facility, entry.backend_job_id, started)
                job.known_status = entry.dirac_status
                self._apply_early_report(job)
                added += 1
            elif job.final_sent_at is not None and job.final_sent_at < settled:
                job.final_sent_at = None
                job.known_status = job.known_signature = None
                self._due.add(job.job_id)
                republish += 1
        stale = [jid for jid, job in self._jobs.items() if jid not in listed and job.touched_at < settled]
        for job_id in stale:
            self._jobs.pop(job_id).tracked = False
            self._due.discard(job_id)
        self._removed = {jid: at for jid, at in self._removed.items() if at >= started}
        self._early_reports = {jid: r for jid, r in self._early_reports.items() if r[1] >= settled}
        kept = {jid: u for jid, u in self._unplaced.items() if u[1] >= settled}
        unknown, self._unplaced = len(self._unplaced) - len(kept), kept
        return ResyncOutcome(added=added, dropped=len(stale), republish=republish, unknown_facility=unknown)

    # --- for the poller -----------------------------------------------------------------------------------

    def take(self, *, due_only: bool) -> dict[str, list[PollTarget]]:
        """What to poll now, by backend; clears the due flags of what it returns. Jobs whose final status was
        sent are left out."""
        if due_only:
            jobs: Iterable[TrackedJob] = [job for jid in self._due if (job := self._jobs.get(jid)) is not None]
        else:
            jobs = self._jobs.values()
        self._due.clear()
        batches: dict[str, list[PollTarget]] = defaultdict(list)
        for job in jobs:
            if job.final_sent_at is None:
                batches[job.backend].append(PollTarget(job, job.backend_job_id))
        return dict(batches)

    @staticmethod
    def is_change(target: PollTarget, status: BackendStatus) -> bool:
        return target.current and target.job.is_change(status)

    def record(self, target: PollTarget, status: BackendStatus, now: float) -> None:
        """The status was published, or was no change: it is what the catalog knows now. A final status stops
        the job's polling; the job stays until the catalog's final phase or a resync removes it."""
        if not target.current:
            return
        job = target.job
        signature = status.signature()
        if job.known_signature != signature:
            job.known_status, job.known_signature = status.status, signature
        if status.is_final:
            job.final_sent_at = now
            self._due.discard(job.job_id)

    # --- internals ----------------------------------------------------------------------------------------

    def _upsert(self, job_id: UUID, backend: str, facility: str, backend_job_id: str, now: float) -> TrackedJob:
        job = self._jobs.get(job_id)
        if job is None:
            job = TrackedJob(job_id, backend, facility, backend_job_id, touched_at=now)
            self._jobs[job_id] = job
            return job
        if job.backend_job_id != backend_job_id or job.backend != backend:
            job.backend, job.facility, job.backend_job_id = backend, facility, backend_job_id
            job.known_status = job.known_signature = None
            job.final_sent_at = None
        job.touched_at = max(job.touched_at, now)
        return job

    def _remove(self, job_id: UUID, now: float) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            job.tracked = False
        self._due.discard(job_id)
        self._early_reports.pop(job_id, None)
        self._unplaced.pop(job_id, None)
        self._removed[job_id] = now

    def _apply_early_report(self, job: TrackedJob) -> None:
        early = self._early_reports.pop(job.job_id, None)
        if early is not None:
            self._take_report(job, early[0])

    def _take_report(self, job: TrackedJob, event: JobReported) -> None:
        if job.final_sent_at is not None:
            return
        if event.status is DiracStatus.RUNNING and job.known_status is not DiracStatus.RUNNING:
            # The catalog heard Running from the callback: a poll that sees Running has nothing new to say.
            job.known_status, job.known_signature = DiracStatus.RUNNING, None
        if job.backend not in self._self_reporting:
            self._due.add(job.job_id)
