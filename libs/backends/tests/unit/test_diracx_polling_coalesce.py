"""The chunks of one monitor poll cycle share one search for updates, however long that search takes (at
100,000 tracked jobs a cycle is 20 chunks, and DiracX's answer takes longer than the coalescing moment)."""

from collections.abc import Mapping, Sequence
from typing import Any

from esap_backends.diracx.backend import to_backend_status
from esap_backends.diracx.polling import UPDATES_COALESCE_SECONDS, StatusSearch


class SlowDiracX:
    """Answers status searches, each taking ``seconds`` of the shared clock."""

    def __init__(self, seconds: float) -> None:
        self.now = 0.0
        self.seconds = seconds
        self.searched: list[str] = []

    def clock(self) -> float:
        return self.now

    async def search(self, parameters: Sequence[str], search: Sequence[Mapping[str, Any]],
                     per_page: int = 10000) -> list[dict[str, Any]]:
        self.now += self.seconds
        first = search[0]
        self.searched.append(first["parameter"])
        ids = first["values"] if first["parameter"] == "JobID" else [1]
        return [{"JobID": i, "Status": "Received", "LastUpdateTime": "2026-01-01T10:00:00"} for i in ids]


async def test_a_slow_search_for_updates_is_shared_by_the_chunks_of_a_cycle() -> None:
    fake = SlowDiracX(seconds=4 * UPDATES_COALESCE_SECONDS)
    search = StatusSearch(fake, to_backend_status, chunk_size=2, job_group="esap",  # type: ignore[arg-type]
                          full_every=60, clock=fake.clock)
    await search.polled([1, 2, 3, 4])  # everything by id, once
    fake.now += 5
    fake.searched.clear()
    for chunk in ([1, 2], [3, 4], [5]):  # one cycle, chunked; job 5 is new, so read by id
        await search.polled(chunk)
    assert fake.searched == ["LastUpdateTime", "JobID"]
    fake.now += 5
    await search.polled([1, 2])  # the next cycle asks again
    assert fake.searched[-1] == "LastUpdateTime" and search.incremental_searches == 2
