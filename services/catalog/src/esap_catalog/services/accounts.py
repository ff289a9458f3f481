"""Accounts: who the caller is to the catalog (their webhook signing secret, e-mail address, default NOTIFY
targets) and their usage, for the gateway's ``/account``. Made on first use. Depends on storage (accounts) and
esap_messages.
"""

from collections.abc import Sequence

from esap_catalog.storage.accounts import AccountStore
from esap_messages.api import AccountView


class AccountService:
    def __init__(self, store: AccountStore) -> None:
        self._store = store

    async def account(self, owner: str, email: str | None) -> AccountView:
        return await self._store.ensure(owner, email)

    async def rotate_secret(self, owner: str, email: str | None) -> AccountView:
        return await self._store.rotate_secret(owner, email)

    async def set_notify(self, owner: str, targets: Sequence[str]) -> AccountView:
        return await self._store.set_notify(owner, list(dict.fromkeys(targets)))
