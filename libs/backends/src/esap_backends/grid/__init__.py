"""What the two DIRAC backends share: where a facility's jobs may run (``placement``) and how a job travels to a
worker node and runs there (``payload``). ``diracx`` turns it into JDL, ``dirac`` into Job API calls; neither
imports the other.

Depends on pydantic, esap_messages and the backend errors; never on ``esap_backends.dirac`` or
``esap_backends.diracx``.
"""

from esap_backends.grid.payload import JobInputs, job_name
from esap_backends.grid.placement import FacilityPlacement

__all__ = ["FacilityPlacement", "JobInputs", "job_name"]
