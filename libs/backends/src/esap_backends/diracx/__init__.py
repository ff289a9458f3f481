"""The DiracX backend: jobs as JDL on a DiracX server, spoken to over its REST API (aiohttp).

Depends on the backend interface and esap_messages; the development server and test pilot live in
``esap_backends.diracx.devserver`` and ``esap_backends.diracx.pilot`` and are not imported here.
"""

from esap_backends.diracx.backend import DiracXBackend, to_backend_status
from esap_backends.diracx.client import DiracXClient, DiracXIdentity
from esap_backends.diracx.jdl import FacilityPlacement, JobInputs, job_name, to_jdl

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
