"""Webhooks: a notification's document POSTed as JSON, signed with the owner's secret, to an allowed destination.

The destination is checked again at delivery (the allowlist may have changed since the job was created): its URL
against the allowed prefixes, and every address its host resolves to against the private-address rule
(``esap_messages.notify.reachable``). The check is made by the connector's resolver, so the connection goes to the
very addresses that were checked (a name cannot resolve to a public address for the check and to a private one for
the connection). Redirects are not followed (a 3xx is a failed attempt). Depends on aiohttp and esap_messages.
"""

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult

from esap_catalog.adapters.delivery import DeliveryError, RefusedError
from esap_messages.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    InvalidTargetError,
    check_webhook,
    explicit_addresses,
    reachable,
    sign,
)


class _CheckedResolver(AbstractResolver):
    """Resolves as aiohttp does, then refuses a name with any address the rule does not let a webhook reach."""

    def __init__(self, explicit: frozenset[str]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._explicit = explicit

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        refused = sorted({r["host"] for r in found if not reachable(r["host"], self._explicit)})
        if refused:
            raise _Refused(f"{host} resolves to {', '.join(refused)}, an address webhooks may not reach")
        return found

    async def close(self) -> None:
        await self._inner.close()


class _Refused(Exception):
    """Raised inside the connector; turned into RefusedError."""


def body_of(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document)


class WebhookSender:
    def __init__(self, allowed: tuple[str, ...], *, timeout: float) -> None:
        self._allowed = allowed
        self._explicit = explicit_addresses(allowed)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self._explicit), limit=50,
                                         use_dns_cache=False)
        self._session = aiohttp.ClientSession(connector=connector,
                                              timeout=aiohttp.ClientTimeout(total=self._timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, url: str, document: Mapping[str, Any], *, secret: str, delivery_id: UUID) -> None:
        assert self._session is not None, "open() first"
        self._check(url)
        body = body_of(document)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
                   DELIVERY_HEADER: str(delivery_id), "User-Agent": "esap-batch-notifier"}
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if response.status >= 300:
                    raise DeliveryError(f"HTTP {response.status} {response.reason or ''}".strip())
        except _Refused as exc:
            raise RefusedError(str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.__cause__, _Refused) or isinstance(exc.os_error, _Refused):
                raise RefusedError(str(exc.__cause__ or exc.os_error)) from None
            raise DeliveryError(f"cannot connect: {exc}") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    def _check(self, url: str) -> None:
        try:
            check_webhook(url, self._allowed)
        except InvalidTargetError as exc:
            raise RefusedError(str(exc)) from None
        host = urlsplit(url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return  # a name: the resolver checks every address it resolves to
        if not reachable(str(address), self._explicit):  # aiohttp does not resolve an address: checked here
            raise RefusedError(f"{host} is an address webhooks may not reach")
