"""The backends this project knows, each declared once, and what each service builds of them.

``KINDS`` lists every backend kind (name, settings, a builder for each side, traits: see ``kinds.py``);
``BackendSettings`` mixes every kind's settings into one class each service's Settings inherits. The submitter
calls ``build_submitting`` (whole backends, which it starts and stops), the monitor ``build_observing`` (the
observing sides only: the local executor's is a reader of its job directories, with no launcher). A kind whose
settings leave it out of this deployment (no DiracX URL, no DIRAC setup) is not built.

Adding a backend: a package ``esap_backends/<name>/`` whose ``settings`` module declares its ``KIND``, then its
``KIND`` in ``KINDS`` and its settings class among ``BackendSettings``'s bases, here, and its name in the
contracts' ``FACILITY_TYPES`` (for the catalog and the gateway, which do not import this). Depends on the backend
packages' settings modules and the backend kinds; the services depend on this module, not on the packages.
"""

from typing import Any

from esap_backends.base import ManagedBackend, Observing
from esap_backends.dirac import settings as dirac
from esap_backends.diracx import settings as diracx
from esap_backends.kinds import BackendKind, ObservingResources, SubmittingResources
from esap_backends.local import settings as local

KINDS: tuple[BackendKind[Any], ...] = (local.KIND, diracx.KIND, dirac.KIND)


class BackendSettings(local.LocalSettings, diracx.DiracXSettings, dirac.DiracSettings):
    """Every backend kind's settings fields, for each service's Settings to inherit."""


HOLDS_ON_OUTAGE = frozenset(kind.name for kind in KINDS if kind.holds_on_outage)
"""Remote backends whose outages can last minutes: their messages are held, never failed, while they are down."""
REPORTS_ITSELF = frozenset(kind.name for kind in KINDS if kind.reports_itself)
"""Backends whose submitter publishes the starts and ends it sees: a job's report needs no poll at once."""


def build_submitting(settings: BackendSettings, resources: SubmittingResources) -> dict[str, ManagedBackend]:
    """The submitter's backends, by kind name: every kind its settings configure."""
    built = {kind.name: kind.submitting(settings, resources) for kind in KINDS}
    return {name: backend for name, backend in built.items() if backend is not None}


def build_observing(settings: BackendSettings, resources: ObservingResources) -> dict[str, Observing]:
    """The monitor's observing sides, by kind name: every kind its settings configure."""
    built = {kind.name: kind.observing(settings, resources) for kind in KINDS}
    return {name: observer for name, observer in built.items() if observer is not None}
