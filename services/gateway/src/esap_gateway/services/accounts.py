"""The caller's account (``/account``): who they are, their webhook signing secret, their default NOTIFY targets,
their usage. Kept by the catalog; an anonymous caller has none (401).
Must not depend on FastAPI or on a concrete client: it is given the catalog port.
"""

import time
from collections.abc import Callable, Sequence

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.domain.errors import UnauthenticatedError
from esap_gateway.domain.identity import Caller
from esap_gateway.domain.notifications import checked_targets
from esap_messages.api import AccountView

DEFAULTS_TTL_SECONDS = 30.0
"""How long a gateway keeps an owner's default NOTIFY targets: a change made through another gateway reaches a new
job within this time (through this one, at once)."""


class AccountService:
    def __init__(self, catalog: CatalogClient, *, notify_allowed: tuple[str, ...], mail_anyone: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._catalog = catalog
        self._allowed = notify_allowed
        self._mail_anyone = mail_anyone
        self._clock = clock
        self._defaults: dict[str, tuple[float, tuple[str, ...]]] = {}

    async def default_targets(self, owner: str, email: str | None) -> tuple[str, ...]:
        """The owner's default NOTIFY targets, for a creation that names none (kept for a while per owner)."""
        kept = self._defaults.get(owner)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        targets = tuple((await self._catalog.account(owner, email)).notify)
        self._remember(owner, targets)
        return targets

    def _remember(self, owner: str, targets: tuple[str, ...]) -> None:
        if len(self._defaults) > 10_000:
            self._defaults.clear()
        self._defaults[owner] = (self._clock() + DEFAULTS_TTL_SECONDS, targets)

    async def view(self, caller: Caller) -> AccountView:
        return await self._catalog.account(_owner(caller), caller.email)

    async def rotate_secret(self, caller: Caller) -> AccountView:
        return await self._catalog.rotate_secret(_owner(caller), caller.email)

    async def set_notify(self, caller: Caller, targets: Sequence[str]) -> AccountView:
        """The default NOTIFY targets of the caller's new jobs, checked as a creation's are (none: no defaults)."""
        owner = _owner(caller)
        checked = checked_targets(targets, owner=owner, email=caller.email, allowed=self._allowed,
                                  mail_anyone=self._mail_anyone)
        view = await self._catalog.set_notify(owner, checked)
        self._remember(owner, tuple(view.notify))
        return view


def _owner(caller: Caller) -> str:
    if caller.owner is None:
        raise UnauthenticatedError("An account needs an identity: send 'Authorization: Bearer <token>'.")
    return caller.owner
