"""Schema migrations: plain SQL files, forward-only, checksummed, applied under an advisory lock.

``migrate`` creates the database if needed and applies what is pending; ``check_schema`` is what the app runs
at start to refuse a database whose schema is behind, ahead, or was changed after the fact.
Depends on asyncpg and the SQL files beside this module; knows nothing of jobs.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

log = structlog.get_logger("esap.catalog.migrations")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6573617063617461  # "esapcata": one key for every catalog process on this database

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The migrations cannot be applied: a file changed after it was applied, or the set is inconsistent."""


class SchemaNotReadyError(Exception):
    """The database's schema is not the one this version expects."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class SchemaState:
    pending: tuple[Migration, ...]
    problems: tuple[str, ...]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: a migration is named NNNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} appears twice")
        raw = path.read_bytes()
        migrations[version] = Migration(version, match.group(2), raw.decode(), hashlib.sha256(raw).hexdigest())
    return [migrations[v] for v in sorted(migrations)]


async def schema_state(conn: asyncpg.Connection, migrations: list[Migration]) -> SchemaState:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[int, str] = {}
    if exists:
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
        applied = {r["version"]: r["checksum"] for r in rows}
    known = {m.version: m for m in migrations}
    problems = [f"migration {known[v].label} was changed after it was applied (checksum differs)"
                for v, checksum in applied.items() if v in known and known[v].checksum != checksum]
    problems += [f"the database has migration {v:04d}, unknown to this version" for v in applied if v not in known]
    pending = tuple(m for m in migrations if m.version not in applied)
    return SchemaState(pending, tuple(problems))


async def check_schema(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> None:
    """Raise SchemaNotReadyError unless every migration is applied, unchanged."""
    state = await schema_state(conn, load_migrations() if migrations is None else migrations)
    if state.problems:
        raise SchemaNotReadyError("; ".join(state.problems))
    if state.pending:
        names = ", ".join(m.label for m in state.pending)
        raise SchemaNotReadyError(f"migrations pending: {names}; run `esap-catalog migrate` first")


async def migrate(url: str, migrations: list[Migration] | None = None) -> list[Migration]:
    """Create the database if missing, then apply pending migrations; returns those applied."""
    migrations = load_migrations() if migrations is None else migrations
    conn = await _connect_creating(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_CREATE_TABLE)
            state = await schema_state(conn, migrations)
            if state.problems:
                raise MigrationError("; ".join(state.problems))
            for migration in state.pending:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version, migration.name, migration.checksum,
                    )
                log.info("Migration applied.", migration=migration.label)
            return list(state.pending)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _connect_creating(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        pass
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await admin.execute(f"CREATE DATABASE {quoted}")
        log.info("Database created.", database=name)
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        pass  # another migrate made it meanwhile
    finally:
        await admin.close()
    return await asyncpg.connect(url)
