"""How a job's failure is classed: one pure function, ``classify``, and the texts it recognises.

The catalog classes every failure it is told of (an observation that ends a job, a failed submission) and retries
a transient one (the node or site lost the job); the backends word their failures so that this table finds them
(the local executor's ``SIGNALLED_MINOR_STATUS``). docs/ARCHITECTURE.md ("Failures and retries") holds the same
table; a test holds the two together.
Depends on the value types of this package only.
"""

import re

from esap_messages.model import DiracStatus, FailureClass

SIGNALLED_MINOR_STATUS = "Killed by signal"
"""The local executor's minor status for a payload that a signal nobody in esap-batch sent ended (``Killed by
signal 9``): the node killed it (out of memory, an operator), so it may work on a second try."""

LOST_MINOR_STATUS = "Process lost"
"""The local executor's minor status for a payload that ended without leaving an exit status."""

_TIMEOUT = re.compile(r"execution duration|cpu ?time limit|cpu limit|exceeded .*time", re.IGNORECASE)
_TRANSIENT = re.compile(
    "|".join((re.escape(SIGNALLED_MINOR_STATUS), re.escape(LOST_MINOR_STATUS), r"pilot not running", r"stalled",
              r"input ?data", r"sandbox upload", r"upload(?:ing)? .*sandbox", r"failed to upload")),
    re.IGNORECASE)
_USAGE = re.compile(r"\bparameters?\b|unknown workflow|unknown facility|does not run on facilities",
                    re.IGNORECASE)

SIGNAL_EXIT_BASE = 128
"""A POSIX shell reports a command a signal ended as exit status 128 + the signal's number."""

TABLE: tuple[tuple[str, FailureClass], ...] = (
    ("the minor status or error says the execution duration (or the CPU time limit) was exceeded",
     FailureClass.TIMEOUT),
    ("esap-batch killed the job (an abort)", FailureClass.FATAL),
    ("status Stalled; minor status or error: Killed by signal, Process lost, Pilot not running, stalled, input "
     "data, sandbox upload; or an exit status above 128 (a signal's)", FailureClass.TRANSIENT),
    ("the error names a parameter, an unknown workflow or facility (bad parameters)", FailureClass.USAGE),
    ("anything else: a non-zero exit, a JDL DIRAC refused", FailureClass.FATAL),
)
"""The rules of ``classify``, in the order it applies them (for the documentation's table)."""


def classify(status: DiracStatus | None, minor_status: str = "", exit_code: int | None = None,
             error: str | None = None, *, killed_by_us: bool = False) -> FailureClass:
    """The class of a failure, by the first rule of ``TABLE`` that matches."""
    texts = f"{minor_status}\n{error or ''}"
    if _TIMEOUT.search(texts):
        return FailureClass.TIMEOUT
    if killed_by_us:
        return FailureClass.FATAL
    signalled = exit_code is not None and (exit_code > SIGNAL_EXIT_BASE or exit_code < 0)
    if status is DiracStatus.STALLED or signalled or _TRANSIENT.search(texts):
        return FailureClass.TRANSIENT
    if _USAGE.search(texts):
        return FailureClass.USAGE
    return FailureClass.FATAL
