"""An outage of the database holds messages (DependencyUnavailableError); a fault of the work does not."""

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.ingest import IngestService
from esap_catalog.storage.errors import is_outage
from esap_messages import CreateJob, new_id
from esap_runtime.bus import DependencyUnavailableError

from .catalog_fakes import FakeDatabase, fake_units


@pytest.mark.parametrize(("error", "outage"), [
    (ConnectionRefusedError(111, "refused"), True),
    (asyncpg.InterfaceError("pool is closed"), True),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
    (asyncpg.SerializationError("could not serialize access"), True),
    (asyncpg.DeadlockDetectedError("deadlock detected"), True),
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
    (asyncpg.exceptions._base.DataError("invalid input for query argument $1"), False),
    (asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"), False),
    (asyncpg.UniqueViolationError("duplicate key"), False),
    (ValueError("bug"), False),
])
def test_outages_are_told_from_faults(error: BaseException, outage: bool) -> None:
    assert is_outage(error) is outage


@pytest.mark.parametrize(("error", "raised"), [
    (ConnectionRefusedError(111, "refused"), DependencyUnavailableError),
    (asyncpg.InterfaceError("pool is closed"), DependencyUnavailableError),
    (asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
     asyncpg.UntranslatableCharacterError),
])
async def test_ingest_holds_messages_only_on_an_outage(error: BaseException, raised: type[Exception]) -> None:
    units = fake_units(FakeDatabase(fail_with=error))  # every unit of work fails as it begins
    service = IngestService(units, CatalogueCache(30), CatalogMetrics(CollectorRegistry()), on_commit=lambda: None)
    with pytest.raises(raised):
        await service.apply([CreateJob(job_id=new_id(), workflow="noop", facility="local")])
