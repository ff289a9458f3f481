"""Entry points: ``create_app(settings)`` for the HTTP service, and the ``esap-catalog`` command
(``serve``, the default; ``migrate``; ``seed``).

Nothing connects at import time: the app's lifespan opens the factory, the commands open what they need.
Depends on everything in the catalog; nothing depends on it.
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
from esap_runtime.logging import configure_logging
from esap_runtime.ops import NO_TELEMETRY, HealthCheck, add_http_metrics, ops_router, serve
from esap_runtime.settings import ServiceSettings

SERVICE = "catalog"
log = structlog.get_logger("esap.catalog")


def create_app(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, Settings):
        raise TypeError("the catalog needs its own Settings")
    registry = CollectorRegistry(auto_describe=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with open_factory(settings, registry, batch_handler) as factory:
                app.state.factory = factory
                app.state.started = True
                yield
        except SchemaNotReadyError as exc:
            log.error("The database schema is not this version's; refusing to start.", error=str(exc))
            raise

    def checks() -> dict[str, HealthCheck]:
        factory: Factory | None = getattr(app.state, "factory", None)
        return dict(factory.health_checks()) if factory else {}

    app = FastAPI(title="esap-batch catalog", lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=NO_TELEMETRY)
    app.include_router(ops_router(registry, checks))
    app.include_router(router)
    install_error_handlers(app)
    add_http_metrics(app, SERVICE, registry)
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
        apps: list[FastAPI] = []

        def build(given: ServiceSettings) -> FastAPI:
            apps.append(create_app(given))
            return apps[-1]

        serve(build, settings, SERVICE)
        if not all(getattr(app.state, "started", False) for app in apps):
            sys.exit(1)  # the lifespan refused to start; uvicorn has logged why
        return
    configure_logging(SERVICE, level=settings.log_level, json=settings.json_logs)
    if args.command == "migrate":
        sys.exit(asyncio.run(_migrate(settings)))
    sys.exit(asyncio.run(_seed(settings, args.workflows.resolve(), args.facilities.resolve())))
