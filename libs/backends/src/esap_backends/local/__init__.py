"""The built-in local executor (backend ``local``): jobs run as processes on this host.

``LocalBackend`` is the backend; ``HttpCallbackClient`` lets the jobs it starts report back to the gateway.
"""

from esap_backends.local.backend import LocalBackend
from esap_backends.local.callbacks import (
    CallbackClient,
    CallbackError,
    CallbackRejectedError,
    CallbackSender,
    HttpCallbackClient,
)

__all__ = [
    "CallbackClient",
    "CallbackError",
    "CallbackRejectedError",
    "CallbackSender",
    "HttpCallbackClient",
    "LocalBackend",
]
