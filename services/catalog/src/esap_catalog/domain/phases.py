"""UWS phases as the catalog orders them, and the mapping of DIRAC statuses onto them: the one table of the
project, which docs/ARCHITECTURE.md shows (a test keeps the two equal).

A job only moves forward: PENDING < QUEUED < EXECUTING < a final phase. DIRAC's Completed is not final (it can
still become Failed) and Stalled can come back to Running, so both stay EXECUTING.
Depends on esap_messages' value types only.
"""

from esap_messages import FINAL_PHASES, DiracStatus, Phase

DIRAC_TO_PHASE: dict[DiracStatus, Phase] = {
    DiracStatus.SUBMITTING: Phase.QUEUED,
    DiracStatus.RECEIVED: Phase.QUEUED,
    DiracStatus.CHECKING: Phase.QUEUED,
    DiracStatus.SCOUTING: Phase.QUEUED,
    DiracStatus.STAGING: Phase.QUEUED,
    DiracStatus.WAITING: Phase.QUEUED,
    DiracStatus.MATCHED: Phase.QUEUED,
    DiracStatus.RESCHEDULED: Phase.QUEUED,
    DiracStatus.RUNNING: Phase.EXECUTING,
    DiracStatus.COMPLETING: Phase.EXECUTING,
    DiracStatus.COMPLETED: Phase.EXECUTING,
    DiracStatus.STALLED: Phase.EXECUTING,
    DiracStatus.DONE: Phase.COMPLETED,
    DiracStatus.FAILED: Phase.ERROR,
    DiracStatus.KILLED: Phase.ABORTED,
    DiracStatus.DELETED: Phase.ABORTED,
}

_RANK: dict[Phase, int] = {
    Phase.PENDING: 0,
    Phase.QUEUED: 1,
    Phase.EXECUTING: 2,
    Phase.UNKNOWN: 2,
    Phase.HELD: 2,
    Phase.SUSPENDED: 2,
}
_FINAL_RANK = 3


def phase_of(status: DiracStatus) -> Phase:
    return DIRAC_TO_PHASE.get(status, Phase.UNKNOWN)


def rank(phase: Phase) -> int:
    return _FINAL_RANK if phase in FINAL_PHASES else _RANK[phase]


def is_forward(current: Phase, target: Phase) -> bool:
    """True when moving from ``current`` to ``target`` goes forward; a final phase never moves."""
    return current not in FINAL_PHASES and rank(target) > rank(current)


def is_final(phase: Phase) -> bool:
    return phase in FINAL_PHASES
