"""Quotas and fair share: the dispatcher's choice in memory (domain.dispatch), and ingest holding and releasing jobs
on the fake unit of work."""

from uuid import UUID

from prometheus_client import CollectorRegistry

from esap_catalog.domain.dispatch import HeldJob, Room, choose
from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.ingest import IngestService
from esap_messages import (
    AbortJob,
    CreateCampaign,
    DiracStatus,
    JobStatusObserved,
    KillJob,
    Message,
    Phase,
    StatusSource,
    SubmitJob,
    new_id,
)

from .catalog_fakes import FakeDatabase, at, create, fake_units


def held(owner: str, n: int, *, start: float = 0, facility: str = "local") -> list[HeldJob]:
    return [HeldJob(new_id(), owner, facility, at(start + i)) for i in range(n)]


def test_free_slots_go_to_owners_in_turn_not_to_the_oldest_sweep() -> None:
    alice, bob, carol = held("alice", 5), held("bob", 2, start=10), held("carol", 1, start=20)
    room = Room.counted(quota=1000, limits={"local": 4}, pairs=[])
    chosen = choose([*alice, *bob, *carol], room)
    assert [h.owner for h in chosen] == ["alice", "bob", "carol", "alice"]
    assert room.facility_room("local") == 0


def test_a_single_free_slot_goes_to_the_owner_with_fewest_active_jobs_there() -> None:
    alice, bob = held("alice", 50), held("bob", 1, start=100)
    room = Room.counted(quota=1000, limits={"local": 4}, pairs=[("local", "alice", 3)])
    assert choose([*alice, *bob], room) == bob


def test_the_quota_bounds_an_owner_across_facilities() -> None:
    alice = held("alice", 5)
    room = Room.counted(quota=3, limits={"local": 64, "ctadirac": 1000}, pairs=[("ctadirac", "alice", 2)])
    assert choose(alice, room) == alice[:1]
    assert room.owner_room("alice") == 0


def test_each_owner_s_jobs_go_oldest_first() -> None:
    alice = held("alice", 4)
    room = Room.counted(quota=2, limits={"local": 64}, pairs=[])
    assert choose(list(reversed(alice)), room) == alice[:2]


def test_nothing_is_chosen_without_room() -> None:
    room = Room.counted(quota=1000, limits={"local": 2}, pairs=[("local", "bob", 2)])
    assert choose(held("alice", 3), room) == []


class Ingest:
    def __init__(self, quota: int) -> None:
        self.database = FakeDatabase()
        self.registry = CollectorRegistry()
        self.service = IngestService(fake_units(self.database), CatalogueCache(30), CatalogMetrics(self.registry),
                                     on_commit=lambda: None, clock=lambda: at(100), quota=quota)

    async def apply(self, *messages: Message) -> None:
        await self.service.apply(messages)

    def submitted(self) -> list[UUID]:
        return [m.job_id for m in self.database.outbox if isinstance(m, SubmitJob)]

    def dispatched(self, path: str) -> float:
        return self.registry.get_sample_value("catalog_jobs_dispatched_total", {"path": path}) or 0.0


def done(job_id: UUID) -> JobStatusObserved:
    return JobStatusObserved(job_id=job_id, source=StatusSource.SUBMITTER, status=DiracStatus.DONE,
                             observed_at=at(50), started_at=at(40), ended_at=at(50))


async def test_jobs_beyond_the_quota_are_held_and_released_oldest_first_as_jobs_end() -> None:
    ingest = Ingest(quota=3)
    made = [create(occurred_at=at(i), run=True) for i in range(5)]
    await ingest.apply(*made)
    ids = [m.job_id for m in made]
    assert ingest.submitted() == ids[:3]
    for job_id in ids[3:]:
        job = ingest.database.jobs[job_id]
        assert (job.phase, job.held) == (Phase.QUEUED, "waiting for quota: 3 of 3 active")
        assert job.callback_token_hash is None
    await ingest.apply(done(ids[1]))
    assert ingest.submitted() == [*ids[:3], ids[3]]
    assert ingest.database.jobs[ids[3]].held is None
    assert ingest.database.jobs[ids[3]].callback_token_hash is not None
    assert ingest.database.jobs[ids[4]].held is not None
    assert (ingest.dispatched("direct"), ingest.dispatched("released")) == (3, 1)


async def test_another_owner_under_quota_is_not_held() -> None:
    ingest = Ingest(quota=2)
    await ingest.apply(*(create(occurred_at=at(i), run=True) for i in range(4)))
    bob = create(owner="bob", occurred_at=at(9), run=True)
    await ingest.apply(bob)
    assert bob.job_id in ingest.submitted()
    assert ingest.database.jobs[bob.job_id].held is None


async def test_a_held_job_aborted_ends_at_once_without_a_kill() -> None:
    ingest = Ingest(quota=1)
    first, second = create(occurred_at=at(0), run=True), create(occurred_at=at(1), run=True)
    await ingest.apply(first, second)
    await ingest.apply(AbortJob(job_id=second.job_id, owner="alice"))
    job = ingest.database.jobs[second.job_id]
    assert (job.phase, job.held) == (Phase.ABORTED, None)
    assert not [m for m in ingest.database.outbox if isinstance(m, KillJob)]
    assert ingest.submitted() == [first.job_id]


async def test_a_campaign_s_children_count_and_its_parent_does_not() -> None:
    ingest = Ingest(quota=2)
    sweep = CreateCampaign(job_id=new_id(), owner="alice", workflow="sleep", facility="local",
                           occurred_at=at(0), run=True, children=[{"seconds": str(s)} for s in range(5)])
    await ingest.apply(sweep)
    kids = sorted((j for j in ingest.database.jobs.values() if j.parent_id == sweep.job_id),
                  key=lambda j: j.creation_time)
    assert ingest.submitted() == [k.job_id for k in kids[:2]]
    assert [k.held is not None for k in kids] == [False, False, True, True, True]
    assert ingest.database.jobs[sweep.job_id].held is None
    await ingest.apply(done(kids[0].job_id), done(kids[1].job_id))
    assert ingest.submitted() == [k.job_id for k in kids[:4]]


async def test_the_periodic_sweep_releases_what_room_now_allows() -> None:
    ingest = Ingest(quota=1)
    made = [create(occurred_at=at(i), run=True) for i in range(3)]
    await ingest.apply(*made)
    assert ingest.submitted() == [made[0].job_id]
    ingest.service.dispatcher.quota = 3  # a quota raised (by a restart with another setting)
    assert await ingest.service.dispatcher.sweep(fake_units(ingest.database)) == 2
    assert ingest.submitted() == [m.job_id for m in made]
    assert await ingest.service.dispatcher.sweep(fake_units(ingest.database)) == 0


async def test_anonymous_jobs_are_one_owner() -> None:
    ingest = Ingest(quota=2)
    made = [create(owner=None, occurred_at=at(i), run=True) for i in range(3)]
    await ingest.apply(*made)
    assert ingest.submitted() == [m.job_id for m in made[:2]]
    assert ingest.database.jobs[made[2].job_id].held == "waiting for quota: 2 of 2 active"


def test_an_owner_alone_on_a_facility_may_have_jobs_prefetched_and_nobody_else_then() -> None:
    room = Room.counted(quota=1000, limits={"local": 4}, pairs=[("local", "alice", 4)], prefetch=64)
    assert room.facility_room("local", "alice") == 4  # at most as many again as its slots
    assert room.facility_room("local", "bob") == 0
    assert room.facility_room("local") == 0
    room.add("local", "bob")
    assert room.facility_room("local", "alice") == -1  # no longer alone
    room = Room.counted(quota=1000, limits={"local": 4}, pairs=[], waiting={"local"}, prefetch=64)
    assert room.facility_room("local", "alice") == 4


def test_a_release_prefetches_only_for_an_owner_alone() -> None:
    room = Room.counted(quota=1000, limits={"local": 4}, pairs=[("local", "alice", 4)], prefetch=2)
    assert len(choose(held("alice", 5), room)) == 2
    room = Room.counted(quota=1000, limits={"local": 4}, pairs=[("local", "alice", 4)], prefetch=2)
    assert choose([*held("alice", 5), *held("bob", 1, start=10)], room) == []
