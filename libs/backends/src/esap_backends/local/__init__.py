"""The built-in local executor (backend ``local``): jobs run as processes on this host.

``LocalBackend`` is the backend (both sides, for the submitter), ``LocalObserver`` its observing side alone (for
the monitor: no launcher, no callbacks); ``HttpCallbackClient`` lets the jobs it starts report back to the gateway.
"""

from esap_backends.local.backend import LocalBackend
from esap_backends.local.callbacks import (
    CallbackClient,
    CallbackError,
    CallbackRejectedError,
    CallbackSender,
    HttpCallbackClient,
)
from esap_backends.local.observer import LocalObserver

__all__ = [
    "CallbackClient",
    "CallbackError",
    "CallbackRejectedError",
    "CallbackSender",
    "HttpCallbackClient",
    "LocalBackend",
    "LocalObserver",
]
