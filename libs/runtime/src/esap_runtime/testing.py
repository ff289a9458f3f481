"""Pytest fixtures for real infrastructure, loaded as a plugin by the repository's conftest; and a real uvicorn
server in a thread of its own, for tests of how the services serve HTTP (``uvicorn_in_thread``).

Service URLs come from the environment first (ESAP_TEST_DATABASE_URL, ESAP_TEST_AMQP_URL), then the local
defaults, then testcontainers where a Docker engine answers. Missing infrastructure fails the run: it never
skips, under CI=true or anywhere else, because a suite that silently skips proves nothing.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest
import uvicorn

from esap_messages import Topology
from esap_runtime.bus import delete_topology
from esap_runtime.private_servers import PrivatePostgres, PrivateRabbitMQ, PrivateServerError, private_root
from esap_runtime.stopping import await_chain

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


async def _answers(connect: Callable[..., Awaitable[Any]], url: str) -> str | None:
    """None when a connection to the URL opens (it is closed again), else why it did not."""
    try:
        conn = await connect(url, timeout=5)
    except Exception as exc:
        return repr(exc)
    await conn.close()
    return None


def _answering_url(name: str, url: str, connect: Callable[..., Awaitable[Any]], container: Callable[[], str]) -> str:
    """The URL if its server answers, else one of a container started by ``container`` where a Docker engine
    answers, else a failed run."""
    error = asyncio.run(_answers(connect, url))
    if error is None:
        return url
    if _docker_answers():
        return container()
    pytest.fail(f"{name} is unreachable at {url} ({error}) and no Docker engine answers", pytrace=False)


HANG_REPORT_LEAD = 15.0
"""Seconds before pytest-timeout fails a test at which the stacks of the loop's pending tasks are printed: the
timeout's own report shows only the loop waiting in select, not which await never returned."""

_loop: asyncio.AbstractEventLoop | None = None


@pytest.fixture(scope="session", autouse=True)
async def _session_loop() -> None:
    global _loop
    _loop = asyncio.get_running_loop()


def _print_pending_tasks(test: str) -> None:
    tasks = sorted(asyncio.all_tasks(), key=lambda t: t.get_name())
    lines = [f"\n=== {test} is about to time out; {len(tasks)} asyncio tasks pending ==="]
    for task in tasks:
        lines += [f"task {task.get_name()}:", *(f"  {line}" for line in await_chain(task))]
    sys.stderr.write("\n".join(lines) + "\n")


def _timeout_of(item: pytest.Item) -> float:
    """The test's pytest-timeout in seconds, as that plugin reads it (marker, command line, ini); 0 for none."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0] or 0)
    option = item.config.getoption("timeout", None)
    if option is not None:
        return float(option)
    try:
        return float(item.config.getini("timeout") or 0)
    except (ValueError, TypeError):  # pytest-timeout not loaded: no such setting
        return 0.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    # The whole item, as pytest-timeout counts it: a fixture's teardown can hang as well as the test.
    lead = _timeout_of(item) - HANG_REPORT_LEAD
    loop = _loop
    timer = None
    if lead > 0 and loop is not None:
        def report() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_print_pending_tasks, item.nodeid)

        timer = threading.Timer(lead, report)
        timer.daemon = True
        timer.start()
    try:
        return (yield)
    finally:
        if timer is not None:
            timer.cancel()


@pytest.fixture(scope="session")
def _containers() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def server_database_url(_containers: ExitStack) -> str:
    """A PostgreSQL server URL (maintenance database) that answers, or a failed run."""

    def container() -> str:
        from testcontainers.postgres import PostgresContainer

        return _containers.enter_context(PostgresContainer("postgres:16-alpine", driver=None)).get_connection_url()

    url = os.environ.get("ESAP_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    return _answering_url("PostgreSQL", url, asyncpg.connect, container)


@pytest.fixture(scope="session")
def amqp_url(_containers: ExitStack) -> str:
    """A RabbitMQ URL that answers, or a failed run."""

    def container() -> str:
        from testcontainers.rabbitmq import RabbitMqContainer

        params = _containers.enter_context(RabbitMqContainer("rabbitmq:3.13-alpine")).get_connection_params()
        return f"amqp://guest:guest@{params.host}:{params.port}/"

    url = os.environ.get("ESAP_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    return _answering_url("RabbitMQ", url, aio_pika.connect, container)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _on_server(server_url: str, statement: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def create_database(server_url: str, name: str) -> str:
    """Create an empty database on the server; its URL."""
    await _on_server(server_url, f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    await _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def fresh_database_url(server_database_url: str) -> AsyncIterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"esap_test_{uuid.uuid4().hex[:12]}"
    yield await create_database(server_database_url, name)
    await drop_database(server_database_url, name)


@pytest.fixture
async def bus_namespace(amqp_url: str) -> AsyncIterator[str]:
    """A bus namespace of its own for one test; its queues and exchange are deleted afterwards."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield namespace
    conn = await aio_pika.connect(amqp_url)
    try:
        await delete_topology(await conn.channel(), Topology(namespace))
    finally:
        await conn.close()


class _PrivateServer(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


_S = TypeVar("_S", bound=_PrivateServer)


def _private(name: str, make: Callable[[], _S]) -> Iterator[_S]:
    """Start the server ``make`` builds, yield it, and close it whatever happened; a server that cannot start
    fails the run."""
    server = None
    try:
        server = make()
        server.start()
        yield server
    except PrivateServerError as exc:
        pytest.fail(f"a private {name} could not start: {exc}", pytrace=False)
    finally:
        if server is not None:
            server.close()


@pytest.fixture(scope="module")
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    """A RabbitMQ node of the module's own, for tests that stop, crash or cut it; the shared one is never touched."""
    yield from _private("RabbitMQ node", lambda: PrivateRabbitMQ(private_root("esap-rabbitmq-")))


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the module's own, for tests that stop or crash it."""
    yield from _private("PostgreSQL cluster", lambda: PrivatePostgres(private_root("esap-postgres-")))


class _Announcing(uvicorn.Server):
    """A uvicorn server that says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@contextmanager
def uvicorn_in_thread(config: uvicorn.Config, *, within: float = 10.0) -> Iterator[int]:
    """``config``'s app served on a free loopback port by uvicorn in a thread of its own (its timers keep running
    while the test's loop is busy, as a loaded client's may be); yields the port once it listens, and stops it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Announcing(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        if not server.listening.wait(within):
            pytest.fail(f"uvicorn did not start within {within:g} s", pytrace=False)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
