"""The caller's account (``/account``): who they are, their webhook signing secret, their default NOTIFY targets,
their usage. Kept by the catalog; an anonymous caller has none (401).
Must not depend on FastAPI or on a concrete client: it is given the catalog port.
"""

from collections.abc import Sequence

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.domain.errors import UnauthenticatedError
from esap_gateway.domain.identity import Caller
from esap_gateway.domain.notifications import checked_targets
from esap_messages.api import AccountView


class AccountService:
    def __init__(self, catalog: CatalogClient, *, notify_allowed: tuple[str, ...], mail_anyone: bool) -> None:
        self._catalog = catalog
        self._allowed = notify_allowed
        self._mail_anyone = mail_anyone

    async def view(self, caller: Caller) -> AccountView:
        return await self._catalog.account(_owner(caller), caller.email)

    async def rotate_secret(self, caller: Caller) -> AccountView:
        return await self._catalog.rotate_secret(_owner(caller), caller.email)

    async def set_notify(self, caller: Caller, targets: Sequence[str]) -> AccountView:
        """The default NOTIFY targets of the caller's new jobs, checked as a creation's are (none: no defaults)."""
        owner = _owner(caller)
        checked = checked_targets(targets, owner=owner, email=caller.email, allowed=self._allowed,
                                  mail_anyone=self._mail_anyone)
        return await self._catalog.set_notify(owner, checked)


def _owner(caller: Caller) -> str:
    if caller.owner is None:
        raise UnauthenticatedError("An account needs an identity: send 'Authorization: Bearer <token>'.")
    return caller.owner
