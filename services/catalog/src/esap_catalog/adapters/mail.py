"""E-mail: a notification's document told in a short plain-text message, through the configured SMTP server
(``smtp://`` or ``smtps://``, with user and password when the URL carries them, STARTTLS with ``?starttls=true``).
Depends on aiosmtplib and the standard library.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from esap_catalog.adapters.delivery import DeliveryError, RefusedError


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("the SMTP URL is smtp://[user:password@]host[:port][?starttls=true] or smtps://...")
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname, port=parts.port or (465 if tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=tls, start_tls=not tls and query.get("starttls") in ("true", "1", "yes"),
    )


def compose(document: Mapping[str, Any], *, sender: str, recipient: str, delivery_id: str) -> EmailMessage:
    what = "Campaign" if document.get("campaign_children") else "Job"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"[esap-batch] {what} {document['job_id']} {document['phase']}"
    message["Message-ID"] = f"<{delivery_id}@esap-batch>"  # the same on every attempt
    lines = [
        f"{what} {document['job_id']} ended {document['phase']}.",
        "",
        f"Workflow: {document.get('workflow')} on {document.get('facility')}",
    ]
    if document.get("run_id"):
        lines.append(f"Run id: {document['run_id']}")
    if document.get("campaign_children"):
        lines.append(f"Children: {document['campaign_children']}")
    lines += [
        f"Created: {document.get('creation_time')}",
        f"Started: {document.get('start_time') or '-'}",
        f"Ended: {document.get('end_time') or '-'}",
        f"Waited in queue: {_duration(document.get('queue_seconds'))}",
        f"Ran for: {_duration(document.get('run_seconds'))}",
    ]
    error = document.get("error")
    if error:
        lines += ["", f"Error ({error.get('type')}): {error.get('message')}"]
    lines += ["", f"Job: {document['url']}"]
    for result in document.get("results") or ():
        lines.append(f"Result {result['id']}: {result['url']}")
    message.set_content("\n".join(lines) + "\n")
    return message


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {rest:02d}s"
    return f"{minutes}m {rest:02d}s" if minutes else f"{seconds:.1f}s"


class MailSender:
    def __init__(self, server: SmtpServer | None, *, sender: str, timeout: float) -> None:
        self._server = server
        self._sender = sender
        self._timeout = timeout

    async def send(self, address: str, document: Mapping[str, Any], *, delivery_id: str) -> None:
        server = self._server
        if server is None:
            raise RefusedError("no SMTP server is configured (ESAP_SMTP_URL)")
        message = compose(document, sender=self._sender, recipient=address, delivery_id=delivery_id)
        try:
            await aiosmtplib.send(message, hostname=server.host, port=server.port, username=server.username,
                                  password=server.password, use_tls=server.use_tls, start_tls=server.start_tls,
                                  timeout=self._timeout)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
