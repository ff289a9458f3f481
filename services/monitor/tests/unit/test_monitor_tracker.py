"""The tracker: which jobs are active, what is known of them, what is due, and how a resync reconciles."""

from uuid import UUID

from esap_backends import BackendStatus
from esap_messages import DiracStatus, JobPhaseChanged, JobReported, JobSubmitted, Phase, new_id, utcnow
from esap_monitor.services.tracker import PollTarget, Tracker
from esap_monitor.testing import active_job

LAG = 5.0


def tracker() -> Tracker:
    t = Tracker(catalog_lag_seconds=LAG)
    t.learn_facilities([("local", "local")])
    return t


def submitted(job_id: UUID, backend_job_id: str = "b1", status: DiracStatus = DiracStatus.RECEIVED,
              facility: str = "local") -> JobSubmitted:
    return JobSubmitted(job_id=job_id, facility=facility, backend_job_id=backend_job_id, status=status)


def phase(job_id: UUID, to: Phase, backend_job_id: str | None = "b1", backend: str = "local",
          facility: str = "local") -> JobPhaseChanged:
    return JobPhaseChanged(job_id=job_id, owner=None, workflow="noop", facility=facility, backend=backend,
                           phase=to, previous_phase=None, backend_job_id=backend_job_id, changed_at=utcnow())


def target(t: Tracker, job_id: UUID) -> PollTarget:
    job = t.get(job_id)
    assert job is not None
    return PollTarget(job, job.backend_job_id)


def ids(batches: dict[str, list[PollTarget]]) -> dict[str, list[tuple[UUID, str]]]:
    return {backend: [(p.job_id, p.backend_job_id) for p in polled] for backend, polled in batches.items()}


def reported(job_id: UUID, status: DiracStatus) -> JobReported:
    return JobReported(job_id=job_id, status=status, reported_at=utcnow())


def test_job_submitted_adds_the_job_with_its_status_known() -> None:
    t, job_id = tracker(), new_id()
    due = t.apply([submitted(job_id, status=DiracStatus.WAITING)], now=1.0)
    job = t.get(job_id)
    assert job is not None and not due
    assert (job.backend, job.backend_job_id, job.known_status) == ("local", "b1", DiracStatus.WAITING)
    assert not t.is_change(target(t, job_id), BackendStatus(DiracStatus.WAITING, minor_status="anything"))
    assert t.is_change(target(t, job_id), BackendStatus(DiracStatus.RUNNING))


def test_a_job_on_a_facility_not_known_yet_is_tracked_once_a_sync_tells_its_backend() -> None:
    t, first, nowhere = tracker(), new_id(), new_id()
    t.apply([submitted(first, facility="elsewhere"), submitted(nowhere, facility="nowhere")], now=1.0)
    assert first not in t and nowhere not in t and t.wants_facilities
    t.learn_facilities([("local", "local"), ("elsewhere", "diracx")])
    job = t.get(first)
    assert job is not None and job.backend == "diracx"
    # "nowhere" is not listed: it may have been added since the list was read, so its job waits on...
    assert nowhere not in t and t.wants_facilities
    assert t.resync([], started=2.0).unknown_facility == 0
    # ...until a resync begun well after it was heard of lists no such facility either.
    assert t.resync([], started=1.0 + LAG + 1).unknown_facility == 1
    assert nowhere not in t and not t.wants_facilities


def test_a_job_that_ended_before_its_facility_was_learned_is_not_tracked() -> None:
    t, job_id = tracker(), new_id()
    t.apply([submitted(job_id, facility="elsewhere"),
             phase(job_id, Phase.COMPLETED, backend="diracx", facility="elsewhere")], now=1.0)
    assert not t.wants_facilities
    t.learn_facilities([("elsewhere", "diracx")])
    assert job_id not in t


def test_phase_changes_teach_the_backend_of_a_facility() -> None:
    t, job_id = tracker(), new_id()
    t.apply([phase(new_id(), Phase.COMPLETED, backend="diracx", facility="elsewhere"),
             submitted(job_id, facility="elsewhere")], now=1.0)
    job = t.get(job_id)
    assert job is not None and job.backend == "diracx"


def test_phase_changes_add_active_jobs_and_remove_final_ones() -> None:
    t, job_id, waiting = tracker(), new_id(), new_id()
    t.apply([phase(job_id, Phase.EXECUTING), phase(waiting, Phase.QUEUED, backend_job_id=None)], now=1.0)
    assert job_id in t and waiting not in t
    t.apply([phase(job_id, Phase.COMPLETED)], now=2.0)
    assert job_id not in t
    t.apply([submitted(job_id)], now=3.0)  # a late duplicate does not bring it back
    assert job_id not in t


def test_a_report_makes_the_job_due_and_running_known() -> None:
    t, job_id = tracker(), new_id()
    t.apply([submitted(job_id)], now=1.0)
    assert t.apply([reported(job_id, DiracStatus.RUNNING)], now=2.0)
    assert ids(t.take(due_only=True)) == {"local": [(job_id, "b1")]}
    assert ids(t.take(due_only=True)) == {}
    assert not t.is_change(target(t, job_id), BackendStatus(DiracStatus.RUNNING, minor_status="Application started"))
    t.record(target(t, job_id), BackendStatus(DiracStatus.RUNNING, minor_status="Application started"), now=3.0)
    assert t.is_change(target(t, job_id), BackendStatus(DiracStatus.RUNNING, minor_status="Uploading outputs"))


def test_a_report_arriving_before_the_submission_is_kept_for_it() -> None:
    t, job_id = tracker(), new_id()
    assert not t.apply([reported(job_id, DiracStatus.RUNNING)], now=1.0)
    assert t.apply([submitted(job_id)], now=1.1)
    job = t.get(job_id)
    assert job is not None and job.known_status is DiracStatus.RUNNING
    assert ids(t.take(due_only=True)) == {"local": [(job_id, "b1")]}


def test_take_groups_by_backend_and_leaves_out_jobs_whose_final_status_was_sent() -> None:
    t, a, b, c = tracker(), new_id(), new_id(), new_id()
    t.apply([submitted(a, "ba"), phase(b, Phase.QUEUED, "bb", backend="diracx"), submitted(c, "bc")], now=1.0)
    t.record(target(t, c), BackendStatus(DiracStatus.DONE), now=2.0)
    batches = ids(t.take(due_only=False))
    assert batches == {"local": [(a, "ba")], "diracx": [(b, "bb")]}
    assert c in t
    assert not t.is_change(target(t, c), BackendStatus(DiracStatus.FAILED))


def test_resync_adds_listed_jobs_and_drops_unlisted_ones_not_heard_of_recently() -> None:
    t, old, recent, listed = tracker(), new_id(), new_id(), new_id()
    t.apply([submitted(old, "bo")], now=1.0)
    t.apply([submitted(recent, "br")], now=98.0)
    outcome = t.resync([active_job(listed, "bl", dirac_status=DiracStatus.RUNNING)], started=100.0)
    assert (outcome.added, outcome.dropped, outcome.republish) == (1, 1, 0)
    assert old not in t and recent in t
    job = t.get(listed)
    assert job is not None and job.known_status is DiracStatus.RUNNING


def test_resync_does_not_revive_a_job_that_ended_while_the_list_was_read() -> None:
    t, job_id = tracker(), new_id()
    t.apply([submitted(job_id)], now=1.0)
    t.apply([phase(job_id, Phase.COMPLETED)], now=100.5)
    t.resync([active_job(job_id, "b1")], started=100.0)
    assert job_id not in t
    t.resync([active_job(job_id, "b1")], started=200.0)  # the catalog insists: it is active after all
    assert job_id in t


def test_a_final_status_still_listed_well_after_it_was_sent_is_polled_again() -> None:
    t, job_id = tracker(), new_id()
    t.apply([submitted(job_id)], now=1.0)
    t.record(target(t, job_id), BackendStatus(DiracStatus.DONE), now=10.0)
    assert t.resync([active_job(job_id, "b1")], started=12.0).republish == 0
    assert ids(t.take(due_only=False)) == {}
    outcome = t.resync([active_job(job_id, "b1")], started=10.0 + LAG + 1)
    assert outcome.republish == 1
    assert ids(t.take(due_only=True)) == {"local": [(job_id, "b1")]}
    assert t.is_change(target(t, job_id), BackendStatus(DiracStatus.DONE))


def test_a_new_backend_job_id_resets_what_is_known() -> None:
    t, job_id = tracker(), new_id()
    t.apply([submitted(job_id, "b1")], now=1.0)
    t.record(target(t, job_id), BackendStatus(DiracStatus.FAILED), now=2.0)
    t.apply([phase(job_id, Phase.QUEUED, backend_job_id="b2")], now=3.0)
    assert ids(t.take(due_only=False)) == {"local": [(job_id, "b2")]}
    assert t.is_change(target(t, job_id), BackendStatus(DiracStatus.RECEIVED))


def test_a_report_of_a_self_reporting_backend_updates_what_is_known_but_asks_no_poll_at_once() -> None:
    t = Tracker(catalog_lag_seconds=LAG, self_reporting=frozenset({"local"}))
    t.learn_facilities([("local", "local"), ("ctadirac", "diracx")])
    local_job, dirac_job = new_id(), new_id()
    t.apply([submitted(local_job), submitted(dirac_job, facility="ctadirac")], now=1.0)
    due = t.apply([reported(local_job, DiracStatus.RUNNING), reported(dirac_job, DiracStatus.RUNNING)], now=2.0)
    assert due and ids(t.take(due_only=True)) == {"diracx": [(dirac_job, "b1")]}
    assert not t.is_change(target(t, local_job), BackendStatus(DiracStatus.RUNNING))
    assert ids(t.take(due_only=False)) == {"local": [(local_job, "b1")], "diracx": [(dirac_job, "b1")]}
