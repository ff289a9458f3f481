"""Notification targets (``NOTIFY``): what a target is, which destinations a deployment allows, how a webhook is
signed and how long a failed delivery waits. One copy of these rules, used by the gateway when a job is created
and by the catalog again when it delivers.

A target is ``mailto:<address>`` or an ``http``/``https`` URL (a webhook). A webhook URL is allowed only when it
starts with one of the configured prefixes (none configured: none allowed), and it may carry no user, password or
fragment (so that a prefix such as ``http://127.0.0.1:`` cannot be stretched to ``http://127.0.0.1:80@elsewhere/``).
An address that is not public (private, loopback, link-local, ...) is reached only when a prefix names exactly that
address as its host (``explicit_addresses``): a name that resolves to one is refused.
No I/O. Depends on the standard library only.
"""

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

MAX_TARGETS = 10
"""The most NOTIFY targets one job may name."""

MAX_TARGET_LENGTH = 2048

SIGNATURE_HEADER = "X-Esap-Signature"
DELIVERY_HEADER = "X-Esap-Delivery"

_ADDRESS = re.compile(r"[^@\s<>,;:\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


class TargetKind(StrEnum):
    MAIL = "mail"
    WEBHOOK = "webhook"


class InvalidTargetError(ValueError):
    """A NOTIFY value that is no target, or one this deployment does not allow; the message says why."""


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: str
    """The e-mail address, or the webhook's URL."""

    @property
    def text(self) -> str:
        return f"mailto:{self.value}" if self.kind is TargetKind.MAIL else self.value


def parse_target(text: str) -> Target:
    """``mailto:<address>`` or an http(s) URL; raises InvalidTargetError naming what is wrong."""
    text = text.strip()
    if len(text) > MAX_TARGET_LENGTH:
        raise InvalidTargetError(f"longer than {MAX_TARGET_LENGTH} characters")
    if text[:7].lower() == "mailto:":
        address = text[7:]
        if not _ADDRESS.fullmatch(address):
            raise InvalidTargetError(f"{address[:100]!r} is not an e-mail address")
        return Target(TargetKind.MAIL, address)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises on a port that is no number)
    except ValueError as exc:
        raise InvalidTargetError(f"not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidTargetError("a target is mailto:<address> or an http(s) URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidTargetError("a webhook URL may not carry a user or password")
    if parts.fragment or "#" in text:
        raise InvalidTargetError("a webhook URL may not carry a fragment")
    if any(c.isspace() or ord(c) < 0x21 for c in text):
        raise InvalidTargetError("a webhook URL may not hold spaces or control characters")
    return Target(TargetKind.WEBHOOK, text)


def allowed_prefixes(setting: str | Sequence[str]) -> tuple[str, ...]:
    """The allowlist setting (comma-separated URL prefixes) as a tuple; empty allows no webhook."""
    items = setting.split(",") if isinstance(setting, str) else setting
    return tuple(p.strip() for p in items if p.strip())


def check_webhook(url: str, prefixes: Sequence[str]) -> None:
    """Raises InvalidTargetError unless ``url`` starts with one of ``prefixes`` (compared case-sensitively, after
    the scheme and host were lower-cased on both sides)."""
    if not prefixes:
        raise InvalidTargetError("webhooks are not enabled here (no allowed URL prefix is configured)")
    normal = _normalised(url)
    if not any(normal.startswith(_normalised(p)) for p in prefixes):
        raise InvalidTargetError("this URL is not among the destinations allowed here")


def _normalised(url: str) -> str:
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def explicit_addresses(prefixes: Iterable[str]) -> frozenset[str]:
    """The IP addresses the allowlist names as hosts: the only non-public addresses a webhook may reach."""
    found = set()
    for prefix in prefixes:
        host = urlsplit(prefix).netloc.rpartition("@")[2]
        host = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.split(":")[0]
        try:
            found.add(str(ipaddress.ip_address(host)))
        except ValueError:
            continue
    return frozenset(found)


def reachable(address: str, explicit: frozenset[str]) -> bool:
    """Whether a webhook may connect to ``address`` (a resolved IP): a public one, or one the allowlist names."""
    ip = ipaddress.ip_address(address)
    if str(ip) in explicit:
        return True
    return ip.is_global and not ip.is_multicast


def sign(secret: str, body: bytes) -> str:
    """The ``X-Esap-Signature`` header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is ``body``'s under ``secret`` (for receivers, and the tests)."""
    return hmac.compare_digest(sign(secret, body), signature)


def backoff(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base, 2 base, 4 base ... at most ``cap``."""
    return float(min(cap, base * 2.0 ** max(0, min(attempts - 1, 30))))
