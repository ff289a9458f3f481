"""The DiracX backend: jobs as JDL on a DiracX server, spoken to over its REST API (aiohttp).

Depends on the backend interface, esap_messages and the payload and placement shared with classic DIRAC
(``esap_backends.grid``); the development server and test pilot live in
``esap_backends.diracx.devserver`` and ``esap_backends.diracx.pilot`` and are not imported here.
"""

from esap_backends.diracx.backend import DiracXBackend, to_backend_status
from esap_backends.diracx.client import DiracXClient, DiracXIdentity
from esap_backends.diracx.jdl import to_jdl
from esap_backends.grid import FacilityPlacement, JobInputs, job_name

__all__ = [
    "DiracXBackend",
    "DiracXClient",
    "DiracXIdentity",
    "FacilityPlacement",
    "JobInputs",
    "job_name",
    "to_backend_status",
    "to_jdl",
]
