"""What a backend kind declares, once: its name, its settings, a builder for each side, and its traits.

Each backend package declares one ``BackendKind`` (in its ``settings`` module, beside the settings it reads), and
``esap_backends.registry`` lists them. A builder is given the service's settings (which mix in the kind's
settings class) and the resources the service hands every backend; it returns None when the settings leave the
backend out of this deployment. Depends on the backend interface, pydantic, aiohttp (the session type) and the
local executor's callback and status-sink types; names no backend.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import aiohttp
from pydantic import BaseModel

from esap_backends.base import ManagedBackend, Observing
from esap_backends.local.backend import StatusSink
from esap_backends.local.callbacks import CallbackClient

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class SubmittingResources:
    """What the submitter hands every backend it builds."""

    session: aiohttp.ClientSession
    """Reaches remote backends (DiracX)."""
    work_root: Path
    """The local executor's work root, one directory per job (shared with the monitor)."""
    workflows_dir: Path
    """Where the workflows' files are read from, to travel with each job."""
    gateway_url: str
    """Where jobs report back to (callbacks)."""
    callback_client: CallbackClient | None = None
    """Sends the local executor's callbacks; None sends none."""
    on_status: StatusSink | None = None
    """Told at once of the statuses a backend sees itself (a local process started or ended)."""
    on_batch: Callable[[str, int], None] | None = None
    """Told of each submission call a backend that submits in bulk (DiracX) makes: its name, the jobs in it."""


@dataclass(frozen=True)
class ObservingResources:
    """What the monitor hands every backend's observing side."""

    session: aiohttp.ClientSession
    """Reaches remote backends (DiracX)."""
    work_root: Path
    """The local executor's work root: the local jobs' directories, and where remote output sandboxes are fetched
    to as results (the gateway serves results from there)."""


@dataclass(frozen=True)
class BackendKind(Generic[S]):
    """One kind of backend, as the catalog's facilities name it (``SubmitJob.backend``)."""

    name: str
    settings: type[S]
    """The settings fields the kind reads, a mixin of each service's Settings (through the registry's
    ``BackendSettings``)."""
    submitting: Callable[[S, SubmittingResources], ManagedBackend | None]
    """The submitter's backend (both sides, started and stopped by the submitter), or None if not configured."""
    observing: Callable[[S, ObservingResources], Observing | None]
    """The monitor's observing side, or None if not configured."""
    holds_on_outage: bool = False
    """Remote, with outages that can last minutes: the submitter holds its messages while it is down, never fails
    them."""
    reports_itself: bool = False
    """The submitter publishes the starts and ends it sees itself: a job's report asks the monitor for no poll at
    once."""
