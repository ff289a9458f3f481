"""Which database errors are an outage (wait and try again) rather than a fault of the work itself.

Depends on asyncpg only.
"""

import asyncpg

OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset, including ConnectionError
    TimeoutError,
    asyncpg.PostgresConnectionError,  # connection lost, failure, does not exist
    asyncpg.TransactionRollbackError,  # serialization failure, deadlock
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now, query cancelled
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
)


def is_outage(exc: BaseException) -> bool:
    # Plain InterfaceError is "pool closed", "connection is closed"...; its subclasses (DataError: a value that
    # cannot be encoded) are faults of the work and must not hold a batch forever.
    return isinstance(exc, OUTAGE_TYPES) or type(exc) is asyncpg.InterfaceError
