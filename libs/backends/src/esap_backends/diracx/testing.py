"""Pytest fixtures and helpers for tests against the development DiracX (started once per test session).

``diracx_server`` fails the test (never skips) when DiracX cannot be installed or started; ``diracx_env`` (for the
end-to-end tests) puts its ESAP_DIRACX_* settings in the environment the services' processes inherit. The
virtualenv is ``var/diracx-venv`` under the current directory (``ESAP_DIRACX_VENV`` overrides it), kept between runs.
Depends on pytest, aiohttp, the development server and the test pilot.
"""

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from esap_backends.diracx import devserver
from esap_backends.diracx.client import DiracXClient, DiracXIdentity
from esap_backends.diracx.pilot import TestPilot


@functools.cache
def shared_dev_server() -> devserver.DevServer:
    """One development DiracX for the whole process, stopped at exit."""
    venv = Path(os.environ.get("ESAP_DIRACX_VENV", "var/diracx-venv")).resolve()
    python = devserver.ensure_venv(venv)
    state = Path(tempfile.mkdtemp(prefix="esap-diracx-"))
    server = devserver.DevServer.start(python, state)

    def stop() -> None:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)

    atexit.register(stop)
    return server


@pytest.fixture(scope="session")
def diracx_server() -> Iterator[devserver.DevServer]:
    try:
        server = shared_dev_server()
    except devserver.DevServerError as exc:
        pytest.fail(f"the development DiracX could not start: {exc}")
    yield server


@pytest.fixture(scope="module")
def diracx_env(diracx_server: devserver.DevServer) -> Iterator[None]:
    """The submitter and monitor find DiracX through ESAP_DIRACX_* (their processes inherit this environment)."""
    saved = {name: os.environ.get(name) for name in diracx_server.exports()}
    os.environ.update(diracx_server.exports())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def client_for(server: devserver.DevServer, session: aiohttp.ClientSession, group: str) -> DiracXClient:
    return DiracXClient(session, server.url, SecretStr(server.api_key),
                        DiracXIdentity(vo=devserver.VO, group=group, username=devserver.USER))


@contextlib.asynccontextmanager
async def running_pilot(server: devserver.DevServer, work_dir: Path) -> AsyncIterator[TestPilot]:
    """A test pilot taking the server's jobs until the block ends."""
    async with aiohttp.ClientSession() as session:
        pilot = TestPilot(admin=client_for(server, session, devserver.ADMIN_GROUP),
                          pilot=client_for(server, session, devserver.PILOT_GROUP),
                          owner=client_for(server, session, devserver.USER_GROUP),
                          job_db=server.job_db, work_dir=work_dir, session=session)
        task = asyncio.create_task(pilot.run())
        try:
            yield pilot
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def pilot(diracx_server: devserver.DevServer, tmp_path: Path) -> AsyncIterator[TestPilot]:
    """A test pilot on the shared development server, taking jobs while the test runs."""
    async with running_pilot(diracx_server, tmp_path) as running:
        yield running
