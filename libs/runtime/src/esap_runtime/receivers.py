"""Real receivers of notifications, for tests: an HTTP server that records webhooks (and can be told to fail the
next few), and an SMTP server (aiosmtpd) that records e-mails, both on loopback.

Test support only: aiosmtpd is a development dependency. No business rules.
"""

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from esap_runtime.stack import free_port


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Records every POST; answers 503 to the next ``fail_next`` ones."""

    port: int = 0
    fail_next: int = 0
    received: list[Hook] = field(default_factory=list)
    delivered: list[Hook] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if not self.port:
            self.port = free_port()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        hook = Hook(request.path, dict(request.headers), await request.read())
        self.received.append(hook)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="not now")
        self.delivered.append(hook)
        return web.Response(status=204)


class _Handler:
    def __init__(self, mails: list[EmailMessage]) -> None:
        self._mails = mails

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self._mails.append(parsed)
        return "250 Message accepted"


class SmtpReceiver:
    """An SMTP server on loopback that keeps every message it is given."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[EmailMessage] = []
        self._controller = Controller(_Handler(self.mails), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


async def wait_until(check: Any, within: float = 20.0) -> None:
    """Polls ``check()`` (truthy: done) for up to ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.05)
