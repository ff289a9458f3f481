"""The classic DIRAC backend: jobs built with DIRAC's own Job API, run through a bridge process.

DIRAC lives in a virtualenv of its own (``install``), and the bridge (``bridge.py``) is the only code run by it;
the rest of this package runs in the services and talks to the bridge in JSON lines (``client``). Importing this
package does not import DIRAC. Depends on the backend interface, esap_messages and the payload and placement
shared with DiracX (``esap_backends.grid``), never on the DiracX backend.
"""

from esap_backends.dirac.backend import DiracBackend
from esap_backends.dirac.client import DiracBridgeClient, DiracCallError, DiracRefusedError, to_backend_error
from esap_backends.dirac.jdl import JobCall, JobDescription, job_description

__all__ = [
    "DiracBackend",
    "DiracBridgeClient",
    "DiracCallError",
    "DiracRefusedError",
    "JobCall",
    "JobDescription",
    "job_description",
    "to_backend_error",
]
