"""Accounts: what belongs to an owner rather than to a job (the webhook signing secret, the e-mail address the
owner's token showed last, the default NOTIFY targets), made on first use; and the owner's usage.

One statement per call. Rows become ``AccountView`` here. Depends on asyncpg and esap_messages.api.
"""

from collections.abc import Sequence
from typing import Any

import asyncpg

from esap_catalog.storage.notifications import new_secret
from esap_messages.api import AccountUsage, AccountView

_ACTIVE = "(SELECT count(*) FROM jobs WHERE owner = a.owner AND phase IN ('QUEUED', 'EXECUTING')) AS active_jobs"
_ENSURE = f"""
WITH a AS (
    INSERT INTO accounts AS a (owner, webhook_secret, email) VALUES ($1, $2, $3)
    ON CONFLICT (owner) DO UPDATE SET email = COALESCE(EXCLUDED.email, a.email),
                                      updated_at = CASE WHEN EXCLUDED.email IS DISTINCT FROM a.email
                                                        AND EXCLUDED.email IS NOT NULL THEN now()
                                                        ELSE a.updated_at END
    RETURNING a.owner, a.webhook_secret, a.email, a.notify
)
SELECT a.*, {_ACTIVE} FROM a
"""  # noqa: S608
_ROTATE = f"""
WITH a AS (
    INSERT INTO accounts AS a (owner, webhook_secret, email) VALUES ($1, $2, $3)
    ON CONFLICT (owner) DO UPDATE SET webhook_secret = EXCLUDED.webhook_secret,
                                      email = COALESCE(EXCLUDED.email, a.email), updated_at = now()
    RETURNING a.owner, a.webhook_secret, a.email, a.notify
)
SELECT a.*, {_ACTIVE} FROM a
"""  # noqa: S608
_NOTIFY = f"""
WITH a AS (
    INSERT INTO accounts AS a (owner, webhook_secret, notify) VALUES ($1, $2, $3)
    ON CONFLICT (owner) DO UPDATE SET notify = EXCLUDED.notify, updated_at = now()
    RETURNING a.owner, a.webhook_secret, a.email, a.notify
)
SELECT a.*, {_ACTIVE} FROM a
"""  # noqa: S608


def _view(r: Any) -> AccountView:
    return AccountView(owner=r["owner"], email=r["email"], webhook_secret=r["webhook_secret"],
                       notify=list(r["notify"] or []), usage=AccountUsage(active_jobs=r["active_jobs"]))


class AccountStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ensure(self, owner: str, email: str | None) -> AccountView:
        """The owner's account, made on first use; ``email`` kept when given."""
        return _view(await self._pool.fetchrow(_ENSURE, owner, new_secret(), email))

    async def rotate_secret(self, owner: str, email: str | None) -> AccountView:
        """A new webhook signing secret: the webhooks sent from now on are signed with it."""
        return _view(await self._pool.fetchrow(_ROTATE, owner, new_secret(), email))

    async def set_notify(self, owner: str, targets: Sequence[str]) -> AccountView:
        return _view(await self._pool.fetchrow(_NOTIFY, owner, new_secret(), list(targets)))
