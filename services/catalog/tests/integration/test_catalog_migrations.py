"""Migrations on a real PostgreSQL: idempotent, applied once under concurrency, refused when changed, and an
app that refuses to start on a schema that is not its own."""

import asyncio
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from esap_catalog.config import Settings
from esap_catalog.main import create_app
from esap_catalog.storage.migrator import (
    MIGRATIONS_DIR,
    MigrationError,
    SchemaNotReadyError,
    load_migrations,
    migrate,
)
from esap_runtime.testing import with_database


async def applied(url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        return [(r["version"], r["checksum"]) for r in
                await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()


async def test_migrate_twice_is_a_no_op(fresh_database_url: str) -> None:
    first = await migrate(fresh_database_url)
    assert [m.label for m in first] == [m.label for m in load_migrations()]
    assert await migrate(fresh_database_url) == []
    assert await applied(fresh_database_url) == [(m.version, m.checksum) for m in load_migrations()]


async def test_concurrent_migrates_apply_once(fresh_database_url: str) -> None:
    results = await asyncio.gather(*(migrate(fresh_database_url) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, len(load_migrations())]
    assert len(await applied(fresh_database_url)) == len(load_migrations())


async def test_migrate_creates_a_missing_database(server_database_url: str) -> None:
    name = f"esap_test_{uuid.uuid4().hex[:12]}"
    url = with_database(server_database_url, name)
    try:
        await asyncio.gather(migrate(url), migrate(url))
        assert len(await applied(url)) == len(load_migrations())
    finally:
        admin = await asyncpg.connect(server_database_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_changed_migration_is_refused(fresh_database_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    await migrate(fresh_database_url, load_migrations(directory))
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(fresh_database_url, load_migrations(directory))


def app_settings(url: str, amqp_url: str, namespace: str) -> Settings:
    return Settings(database_url=SecretStr(url), amqp_url=SecretStr(amqp_url), bus_namespace=namespace)


async def test_the_app_refuses_an_unmigrated_database(fresh_database_url: str, amqp_url: str,
                                                      bus_namespace: str) -> None:
    app = create_app(app_settings(fresh_database_url, amqp_url, bus_namespace))
    with pytest.raises(SchemaNotReadyError, match="pending: 0001_initial"):
        async with app.router.lifespan_context(app):
            pass


async def test_the_app_refuses_a_mismatched_schema(fresh_database_url: str, amqp_url: str,
                                                   bus_namespace: str) -> None:
    await migrate(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    await conn.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
    await conn.close()
    app = create_app(app_settings(fresh_database_url, amqp_url, bus_namespace))
    with pytest.raises(SchemaNotReadyError, match="changed after it was applied"):
        async with app.router.lifespan_context(app):
            pass
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(fresh_database_url)
