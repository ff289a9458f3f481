"""Verifying a running job's callback token for the gateway; the final report consumes the token.

The token is compared by its SHA-256 only, in constant time. A final job, or one whose token is gone, refuses
every callback. Consuming is one compare-and-set statement, so two final reports cannot both pass.
Depends on the domain and storage.
"""

import hmac

from esap_catalog.domain.phases import is_final
from esap_catalog.domain.transitions import token_hash
from esap_catalog.storage.views import JobViewStore
from esap_messages.api import CallbackVerification, CallbackVerified


class JobNotFoundError(Exception):
    """No job has this id."""


class CallbackRefusedError(Exception):
    """The token is not the job's, the job is final, or the token was consumed."""


class CallbackService:
    def __init__(self, store: JobViewStore) -> None:
        self._store = store

    async def verify(self, request: CallbackVerification) -> CallbackVerified:
        state = await self._store.token_state(request.job_id)
        if state is None:
            raise JobNotFoundError(str(request.job_id))
        digest = token_hash(request.token)
        if state.token_hash is None:
            raise CallbackRefusedError("the job has no callback token (never queued, or consumed)")
        if not hmac.compare_digest(state.token_hash, digest):
            raise CallbackRefusedError("the token is not this job's")
        if is_final(state.phase):
            raise CallbackRefusedError("the job is final")
        if not request.final:
            return CallbackVerified(job_id=request.job_id, phase=state.phase)
        phase = await self._store.consume_token(request.job_id, digest)
        if phase is None:
            raise CallbackRefusedError("the token was consumed meanwhile, or the job became final")
        return CallbackVerified(job_id=request.job_id, phase=phase)
