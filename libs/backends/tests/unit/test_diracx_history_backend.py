"""DiracXBackend.bulk_history over a fake DiracX client: one call per chunk of ids, DiracX's LoggingInfo turned
into history entries (malformed ones left out, texts clipped, only the newest kept). No I/O."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from esap_backends.diracx import DiracXBackend, FacilityPlacement
from esap_backends.diracx.client import DiracXClient
from esap_messages import MAX_BACKEND_HISTORY


def entry(status: str, second: int, **fields: Any) -> dict[str, Any]:
    row = {"Status": status, "MinorStatus": f"{status} minor", "ApplicationStatus": "Unknown",
           "StatusTime": f"2026-03-01T12:00:{second:02d}Z", "Source": "JobWrapper"}
    row.update(fields)
    return row


class FakeLoggingDiracX:
    """Answers logging_info from ``logs`` (DiracX's LoggingInfo rows by job id), keeping every call."""

    def __init__(self, logs: dict[int, list[dict[str, Any]]]) -> None:
        self.logs = logs
        self.calls: list[list[int]] = []

    async def logging_info(self, job_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        self.calls.append(list(job_ids))
        return {i: self.logs[i] for i in job_ids if i in self.logs}


def backend(fake: FakeLoggingDiracX, chunk_size: int = 5000) -> DiracXBackend:
    client: DiracXClient = fake  # type: ignore[assignment]
    return DiracXBackend(client, FacilityPlacement(), workflows_dir=None, gateway_url=None, chunk_size=chunk_size)


async def test_histories_of_many_jobs_in_one_call() -> None:
    fake = FakeLoggingDiracX({
        1: [entry("Received", 0), entry("Matched", 1), entry("Running", 2), entry("Done", 3)],
        2: [entry("Received", 0, ApplicationStatus=None), entry("Killed", 9, Source="esap-batch")],
    })
    found = await backend(fake).bulk_history(["1", "2", "3", "not-an-id", "1"])
    assert fake.calls == [[1, 2, 3]]
    assert set(found) == {"1", "2"}
    assert [e.status for e in found["1"]] == ["Received", "Matched", "Running", "Done"]
    assert found["1"][3].minor_status == "Done minor" and found["1"][3].source == "JobWrapper"
    assert found["1"][0].at == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert found["2"][0].application_status == "" and found["2"][1].source == "esap-batch"


async def test_ids_are_chunked_and_each_chunk_is_one_call() -> None:
    fake = FakeLoggingDiracX({i: [entry("Received", 0)] for i in range(1, 8)})
    found = await backend(fake, chunk_size=3).bulk_history([str(i) for i in range(1, 8)])
    assert fake.calls == [[1, 2, 3], [4, 5, 6], [7]]
    assert len(found) == 7


async def test_malformed_entries_are_left_out_and_long_ones_clipped() -> None:
    fake = FakeLoggingDiracX({1: [
        entry("Received", 0), entry("Running", 1, StatusTime="yesterday"), entry("Running", 2, StatusTime=None),
        entry("Done", 3, MinorStatus="m" * 5000, Source="s" * 500),
        {"Status": "Done", "StatusTime": "2026-03-01 12:00:04"},  # no zone: DIRAC's UTC
    ]})
    history = (await backend(fake).bulk_history(["1"]))["1"]
    assert [e.status for e in history] == ["Received", "Done", "Done"]
    assert len(history[1].minor_status) == 512 and len(history[1].source) == 128
    assert history[2].at == datetime(2026, 3, 1, 12, 0, 4, tzinfo=UTC) and history[2].minor_status == ""


async def test_a_long_history_keeps_its_newest_entries() -> None:
    rows = [entry("Running", 0, MinorStatus=f"step {i}") for i in range(MAX_BACKEND_HISTORY + 50)]
    history = (await backend(FakeLoggingDiracX({1: rows})).bulk_history(["1"]))["1"]
    assert len(history) == MAX_BACKEND_HISTORY
    assert history[0].minor_status == "step 50" and history[-1].minor_status == f"step {MAX_BACKEND_HISTORY + 49}"
