"""A job as DIRAC JDL: the description DiracX stores and a pilot runs. Pure functions, no I/O.

The job's command, parameters and files travel in the wrapper and spec shared with classic DIRAC
(``esap_backends.grid.payload``); every character that reaches the JDL is one of ``[A-Za-z0-9_=.+/-]``, spaces,
and a few shell characters (``' | > & $``). Depends on the shared grid modules, esap_messages and the backend
errors only.
"""

from collections.abc import Sequence

from esap_backends.base import PermanentBackendError
from esap_backends.grid.payload import STDERR, STDOUT, JobInputs, arguments, check_file_names, job_name
from esap_backends.grid.placement import FacilityPlacement, cpu_time, plain_name
from esap_messages import SubmitJob

__all__ = ["to_jdl"]


def to_jdl(job: SubmitJob, placement: FacilityPlacement, inputs: JobInputs) -> str:
    """The JDL of one job. Raises PermanentBackendError for what DIRAC could never run."""
    check_file_names(inputs.files)
    outputs = [STDOUT, STDERR, *(o.name for o in job.workflow.outputs if o.name not in (STDOUT, STDERR))]
    lines = [
        ("JobName", _string(job_name(job))),
        ("JobGroup", _string(plain_name(placement.job_group, "JobGroup"))),
        ("Executable", _string("/bin/sh")),
        ("Arguments", _string(arguments(job, inputs, placement))),
        ("StdOutput", _string(STDOUT)),
        ("StdError", _string(STDERR)),
        ("OutputSandbox", _list(outputs)),
        ("CPUTime", str(cpu_time(job.execution_duration, placement))),
        ("Priority", str(placement.priority)),
    ]
    if placement.sites:
        lines.append(("Site", _list([plain_name(s, "Site") for s in placement.sites])))
    if placement.tags:
        lines.append(("Tags", _list([plain_name(t, "Tags") for t in placement.tags])))
    if placement.platform:
        lines.append(("Platform", _string(plain_name(placement.platform, "Platform"))))
    body = "\n".join(f"    {key} = {value};" for key, value in lines)
    return f"[\n{body}\n]"


def _string(value: str) -> str:
    if any(c in value for c in '";[\n\\'):
        raise PermanentBackendError(f"a JDL string cannot hold {value[:40]!r}")
    return f'"{value}"'


def _list(values: Sequence[str]) -> str:
    return "{" + ", ".join(_string(v) for v in values) + "}"
