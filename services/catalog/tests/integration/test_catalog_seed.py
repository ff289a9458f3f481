"""Seeding the catalogue on a real PostgreSQL: idempotent, updates in place, refuses a broken file."""

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from esap_catalog.services.seeding import DefinitionError, seed
from esap_catalog.storage.catalogue import CatalogueStore, Upserted
from esap_catalog.storage.migrator import migrate
from esap_catalog.storage.pool import create_pool

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
async def store(fresh_database_url: str) -> AsyncIterator[CatalogueStore]:
    await migrate(fresh_database_url)
    pool = await create_pool(fresh_database_url, min_size=1, max_size=2)
    yield CatalogueStore(pool)
    await pool.close()


@pytest.fixture
def definitions(tmp_path: Path) -> tuple[Path, Path]:
    workflows, facilities = tmp_path / "workflows", tmp_path / "facilities"
    shutil.copytree(REPO / "workflows", workflows)
    shutil.copytree(REPO / "facilities", facilities)
    return workflows, facilities


async def rows(store: CatalogueStore, fresh_database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        return list(await conn.fetch("SELECT slug, name, updated_at, xmin::text FROM workflows ORDER BY slug"))
    finally:
        await conn.close()


async def test_seeding_twice_changes_nothing(store: CatalogueStore, definitions: tuple[Path, Path],
                                             fresh_database_url: str) -> None:
    first = await seed(store, *definitions)
    assert first["workflow/hello-world"] is Upserted.INSERTED and first["facility/local"] is Upserted.INSERTED
    before = await rows(store, fresh_database_url)
    second = await seed(store, *definitions)
    assert set(second.values()) == {Upserted.UNCHANGED}
    assert await rows(store, fresh_database_url) == before
    [hello] = await store.workflows(["hello-world"])
    assert hello.parameters[2].default == "33" and hello.run.outputs[0].name == "helloworld.json"


async def test_a_changed_file_updates_its_row_in_place(store: CatalogueStore, definitions: tuple[Path, Path],
                                                       fresh_database_url: str) -> None:
    await seed(store, *definitions)
    path = definitions[0] / "sleep.json"
    data = json.loads(path.read_text())
    data["name"] = "Sleep well"
    path.write_text(json.dumps(data))
    outcome = await seed(store, *definitions)
    assert outcome["workflow/sleep"] is Upserted.UPDATED and outcome["workflow/noop"] is Upserted.UNCHANGED
    [sleep] = await store.workflows(["sleep"])
    assert sleep.name == "Sleep well"


async def test_a_broken_file_is_refused_naming_the_field(store: CatalogueStore,
                                                         definitions: tuple[Path, Path]) -> None:
    path = definitions[0] / "noop.json"
    data = json.loads(path.read_text())
    del data["run"]["command"]
    path.write_text(json.dumps(data))
    with pytest.raises(DefinitionError, match=r"noop\.json: field 'run\.command': Field required"):
        await seed(store, *definitions)
    assert await store.workflows() == []
