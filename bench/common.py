"""What the benchmarks share: a lean HTTP/1.1 client connection (and one that times its answers), a tap on
the bus's phase changes, the four services on a fresh database and bus namespace, the command-line options
that place that stack, and a development DiracX of the bench's own.

Bench code only: nothing under libs/ or services/ imports it.
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Generic, Self, TypeVar

import aio_pika
import httptools

from esap_backends.diracx.devserver import DevServer, ensure_venv
from esap_messages import JobPhaseChanged, Topology, decode_all
from esap_runtime.bus import delete_topology
from esap_runtime.stack import Stack, free_ports
from esap_runtime.testing import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]

A = TypeVar("A")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class HttpConnection(asyncio.Protocol, Generic[A], ABC):
    """One keep-alive HTTP/1.1 connection that sends one prepared request at a time; httptools parses the answer.
    The bench shares the services' cores, so its client is kept lean: a write and a parse, where a general client
    spent several times more per request. A subclass keeps what it needs of the answer (httptools' ``on_header``,
    ``on_body``) and says in ``_result`` what the answer is once it is complete."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[A] | None = None
        self._lost: Exception | None = None

    @classmethod
    async def open(cls, host: str, port: int, *args: object) -> Self:
        """A connection to host:port; ``args`` go to the constructor."""
        _, protocol = await asyncio.get_running_loop().create_connection(lambda: cls(*args), host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unparsable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = ConnectionError(f"connection lost: {exc}")
        self._fail(self._lost)

    def on_message_complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(self._result())

    @abstractmethod
    def _result(self) -> A:
        """The answer, once httptools parsed all of it."""

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    def _send(self, request: bytes) -> "asyncio.Future[A]":
        """Write the request; the future of its answer."""
        assert self._transport is not None
        if self._lost is not None:
            raise self._lost
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Exchange(HttpConnection[tuple[int, bytes, float]]):
    """A connection whose answers are the status, the body and the time it arrived, taken as soon as it is
    parsed."""

    def __init__(self) -> None:
        super().__init__()
        self._body: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def _result(self) -> tuple[int, bytes, float]:
        return self._parser.get_status_code(), b"".join(self._body), time.time()

    async def send(self, request: bytes) -> tuple[int, bytes, float]:
        """The answer's status, body, and the time it arrived."""
        self._body = []
        return await self._send(request)


async def tap_phase_changes(amqp_url: str, namespace: str, keys: tuple[str, ...],
                            on_change: Callable[[JobPhaseChanged], None], stack: AsyncExitStack) -> None:
    """Hand each JobPhaseChanged to ``on_change``, from a queue of the bench's own bound to ``keys``; the
    connection closes with ``stack``."""
    connection = await aio_pika.connect(amqp_url)
    stack.push_async_callback(connection.close)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1000)
    exchange = await channel.get_exchange(Topology(namespace).exchange)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in keys:
        await queue.bind(exchange, routing_key=key)

    async def on_message(raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        for message in decode_all(raw.type, raw.body, raw.headers):
            if isinstance(message, JobPhaseChanged):
                on_change(message)

    await queue.consume(on_message, no_ack=True)


@asynccontextmanager
async def own_stack(args: argparse.Namespace, *, env: dict[str, str] | None = None, prefix: str = "w",
                    environment: str = "development", keep_database: bool = False,
                    keep_jobs: bool = False) -> AsyncIterator[tuple[Stack, str]]:
    """The four services on a fresh database and bus namespace (with ``env`` on top of the bench's settings);
    yields the stack and its namespace. Afterwards the namespace is deleted, and the database and the job
    directories too unless kept."""
    suffix = uuid.uuid4().hex[:8]
    namespace, database = f"{prefix}{suffix}", f"esap_bench_{prefix}{suffix}"
    work_root = ROOT / "var" / "bench" / suffix
    work_root.mkdir(parents=True)
    jobs_root = (args.work_root / suffix) if args.work_root else work_root / "jobs"
    database_url = await create_database(args.database_url, database)
    settings = {"ESAP_ENVIRONMENT": environment, "ESAP_LOG_LEVEL": args.log_level, "ESAP_AMQP_URL": args.amqp_url,
                "ESAP_BUS_NAMESPACE": namespace, "CATALOG_DATABASE_URL": database_url,
                "ESAP_LOCAL_WORK_ROOT": str(jobs_root), "ESAP_WORKFLOWS_DIR": str(ROOT / "workflows"),
                "ESAP_FACILITIES_DIR": str(ROOT / "facilities"), "ESAP_LOG_JSON": "true",
                "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",  # one client offering hundreds of jobs a second, on purpose
                **(env or {})}
    stack = Stack(env=settings, ports=free_ports(), log_dir=work_root)
    try:
        await asyncio.to_thread(stack.setup)
        await asyncio.to_thread(stack.start)
        yield stack, namespace
    finally:
        await asyncio.to_thread(stack.stop)
        connection = await aio_pika.connect(args.amqp_url)
        await delete_topology(await connection.channel(), Topology(namespace))
        await connection.close()
        if keep_database:
            sys.stderr.write(f"database kept: {database_url}\n")
        else:
            await drop_database(args.database_url, database)
        if not keep_jobs:  # a directory of files per job: thousands of runs' worth would fill the disk
            await asyncio.to_thread(shutil.rmtree, jobs_root, True)
        sys.stderr.write(f"service logs: {work_root}\n")


@contextmanager
def own_diracx() -> Iterator[DevServer]:
    """A development DiracX of the bench's own (its virtualenv var/diracx-venv, kept between runs; its state in a
    temporary directory, removed afterwards)."""
    python = ensure_venv((ROOT / "var" / "diracx-venv").resolve())
    state = Path(tempfile.mkdtemp(prefix="esap-diracx-bench-"))
    server = DevServer.start(python, state)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


def bench_parser(description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, its module docstring as the help, laid out as written."""
    return argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


def write_errors(*errors: list[str]) -> None:
    """Under a report: the first ten distinct errors of the run, one a line (the rest are like them)."""
    for error in sorted(set().union(*errors))[:10]:
        sys.stdout.write(f"    {error}\n")


def stack_arguments(parser: argparse.ArgumentParser, *, log_level_help: str = "the services' log level") -> None:
    """The options own_stack reads: where PostgreSQL and RabbitMQ are, the services' log level, the work root."""
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--log-level", default="WARNING", help=log_level_help)
    parser.add_argument("--work-root", type=Path, default=None,
                        help="where the run's job directories go (in a directory of the run's own); default: "
                             "var/bench/<run>/jobs")
