"""Verifying running jobs' callback tokens for the gateway; a final report consumes its token.

Tokens are compared by their SHA-256 only, in constant time. A final job, or one whose token is gone, refuses
every callback. The gateway sends the callbacks that arrive together as one batch: one query reads every job's
token, one compare-and-set statement consumes the final reports' tokens, so two final reports cannot both pass.
Depends on the domain and storage.
"""

import hmac
from collections.abc import Sequence
from uuid import UUID

from esap_catalog.domain.phases import is_final
from esap_catalog.domain.transitions import token_hash
from esap_catalog.storage.views import JobViewStore, TokenState
from esap_messages.api import CallbackVerdict, CallbackVerification, CallbackVerified

NOT_FOUND = "no such job"
ENDED = "the job is final"


class JobNotFoundError(Exception):
    """No job has this id."""


class CallbackRefusedError(Exception):
    """The token is not the job's, the job is final, or the token was consumed."""


def _refusal(state: TokenState | None, digest: bytes) -> str | None:
    """Why the token is refused, or None when it is the job's and the job still runs."""
    if state is None:
        return NOT_FOUND
    if state.token_hash is None:
        return "the job has no callback token (never queued, or consumed)"
    if not hmac.compare_digest(state.token_hash, digest):
        return "the token is not this job's"
    if is_final(state.phase):
        return ENDED
    return None


class CallbackService:
    def __init__(self, store: JobViewStore) -> None:
        self._store = store

    async def verify(self, request: CallbackVerification) -> CallbackVerified:
        (verdict,) = await self.verify_many([request])
        if verdict.accepted and verdict.phase is not None:
            return CallbackVerified(job_id=verdict.job_id, phase=verdict.phase, dirac_status=verdict.dirac_status)
        if verdict.reason == NOT_FOUND:
            raise JobNotFoundError(str(request.job_id))
        raise CallbackRefusedError(verdict.reason)

    async def verify_many(self, requests: Sequence[CallbackVerification]) -> list[CallbackVerdict]:
        states = await self._store.token_states([r.job_id for r in requests])
        digests = [token_hash(r.token) for r in requests]
        reasons = [_refusal(states.get(r.job_id), d) for r, d in zip(requests, digests, strict=True)]
        to_consume: dict[UUID, bytes] = {}
        first_final: dict[UUID, int] = {}
        for i, (request, reason) in enumerate(zip(requests, reasons, strict=True)):
            if reason is None and request.final and request.job_id not in first_final:
                first_final[request.job_id] = i
                to_consume[request.job_id] = digests[i]
        consumed = await self._store.consume_tokens(to_consume) if to_consume else {}
        verdicts = []
        for i, (request, reason) in enumerate(zip(requests, reasons, strict=True)):
            lost_race = first_final.get(request.job_id) != i or request.job_id not in consumed
            if reason is None and request.final and lost_race:
                reason = "the token was consumed meanwhile, or the job became final"
            if reason is not None:
                verdicts.append(CallbackVerdict(job_id=request.job_id, accepted=False, reason=reason,
                                                ended=reason == ENDED))
                continue
            state = states[request.job_id]
            phase = consumed.get(request.job_id, state.phase)
            verdicts.append(CallbackVerdict(job_id=request.job_id, accepted=True, phase=phase,
                                            dirac_status=state.dirac_status))
        return verdicts
