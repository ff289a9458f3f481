"""The catalog's composition root: ``create_app(settings)``, and the ``esap-catalog`` command (``serve``, the
default; ``migrate``; ``seed``).

The one shape of every service (docs/ARCHITECTURE.md, "Composition"): ``create_app`` hands
``esap_runtime.composition.service_app`` a lifespan that enters ``factory.open_factory`` (the pool, the LISTEN
connection, the bus, the background tasks, then the ``Factory`` on them), registers the catalog queue's consumer
(``handlers.messages.batch_handler``, handed to the factory here: the factory never imports a handler) and installs
the one error mapping, ``handlers.errors``. Routes reach the factory through ``handlers.dependencies``.
Nothing connects at import time; the commands open what they need. Depends on everything in the catalog; nothing
depends on it.
"""

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_catalog.config import Settings
from esap_catalog.factory import Factory, open_factory
from esap_catalog.handlers.errors import install_error_handlers
from esap_catalog.handlers.http import router
from esap_catalog.handlers.messages import batch_handler
from esap_catalog.services.seeding import DefinitionError, seed
from esap_catalog.storage.catalogue import CatalogueStore
from esap_catalog.storage.migrator import MigrationError, SchemaNotReadyError, migrate
from esap_catalog.storage.pool import create_pool
from esap_runtime.composition import service_app
from esap_runtime.logging import configure_logging
from esap_runtime.ops import serve
from esap_runtime.settings import ServiceSettings

SERVICE = "catalog"
log = structlog.get_logger("esap.catalog")


def create_app(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, Settings):
        raise TypeError("the catalog needs its own Settings")
    registry = CollectorRegistry(auto_describe=True)

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[Factory]:
        try:
            async with open_factory(settings, registry, lambda factory: batch_handler(factory.ingest)) as factory:
                yield factory
        except SchemaNotReadyError as exc:
            log.error("The database schema is not this version's; refusing to start.", error=str(exc))
            raise

    app = service_app(SERVICE, "esap-batch catalog", registry, running, install_errors=install_error_handlers,
                      docs_url=None, redoc_url=None)
    app.include_router(router)
    return app


async def _migrate(settings: Settings) -> int:
    try:
        applied = await migrate(settings.database_url.get_secret_value())
    except MigrationError as exc:
        log.error("Migrations refused.", error=str(exc))
        return 1
    log.info("Database schema is up to date.", applied=[m.label for m in applied])
    return 0


async def _seed(settings: Settings, workflows: Path, facilities: Path) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    try:
        outcomes = await seed(CatalogueStore(pool), workflows, facilities)
    except DefinitionError as exc:
        log.error("Seeding refused: a definition is invalid.", error=str(exc))
        return 1
    finally:
        await pool.close()
    counts = {state.value: sum(1 for s in outcomes.values() if s is state) for state in set(outcomes.values())}
    log.info("Catalogue seeded.", workflows_dir=str(workflows), facilities_dir=str(facilities), **counts)
    return 0


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esap-catalog", description="The esap-batch catalog service.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (the default)")
    commands.add_parser("migrate", help="create the database if needed and apply pending migrations")
    seeding = commands.add_parser("seed", help="load workflow and facility definitions into the catalogue")
    seeding.add_argument("--workflows", type=Path, default=settings.workflows_dir, help="directory of *.json")
    seeding.add_argument("--facilities", type=Path, default=settings.facilities_dir, help="directory of *.json")
    return parser


def cli(argv: Sequence[str] | None = None) -> None:
    settings = Settings()
    args = _parser(settings).parse_args(argv)
    if args.command in (None, "serve"):
        serve(create_app, settings, SERVICE)  # a failed start-up exits 3, as every service's (uvicorn's own code)
        return
    configure_logging(SERVICE, level=settings.log_level, json=settings.json_logs)
    if args.command == "migrate":
        sys.exit(asyncio.run(_migrate(settings)))
    sys.exit(asyncio.run(_seed(settings, args.workflows.resolve(), args.facilities.resolve())))
