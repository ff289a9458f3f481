"""A job as calls on classic DIRAC's Job API: a declarative description the bridge replays. Pure, no I/O.

DIRAC's Job API puts the payload (executable and arguments) in a workflow XML that travels in the input sandbox
and is run by ``dirac-jobexec`` with ``shlex.split(executable + " " + arguments)``, no shell. The legacy API mangles
``{ } = "`` in parametric arguments, so nothing of the user's travels as text here either: the command runs
``/bin/sh`` with the DiracX backend's own Arguments (a base64 wrapper and a base64 spec holding the command,
parameters, files and callback), which that wrapper decodes on the worker node. Depends on esap_messages, the
backend errors and the payload and placement shared with DiracX (``esap_backends.grid``), never on the DiracX
backend.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from esap_backends.grid.payload import STDERR, STDOUT, JobInputs, arguments, check_file_names, job_name
from esap_backends.grid.placement import FacilityPlacement, cpu_time, plain_name
from esap_messages import SubmitJob

EXECUTABLE = "/bin/sh"
PAYLOAD_LOG = "payload.log"  # what dirac-jobexec's Script step writes the payload's output to


@dataclass(frozen=True)
class JobCall:
    """One setter call on DIRAC's ``Job``: ``job.<method>(*args, **kwargs)``."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "args": list(self.args), "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class JobDescription:
    """How the bridge builds a DIRAC ``Job(stdout=..., stderr=...)`` and which setters it then calls, in order."""

    name: str
    job_group: str
    calls: tuple[JobCall, ...]
    stdout: str = STDOUT
    stderr: str = STDERR

    def to_json(self) -> dict[str, Any]:
        return {"stdout": self.stdout, "stderr": self.stderr, "calls": [call.to_json() for call in self.calls]}


def job_description(job: SubmitJob, placement: FacilityPlacement, inputs: JobInputs) -> JobDescription:
    """The Job API calls describing one job. Raises PermanentBackendError for what DIRAC could never run."""
    check_file_names(inputs.files)
    name = job_name(job)
    group = plain_name(placement.job_group, "JobGroup")
    calls = [
        JobCall("setName", (name,)),
        JobCall("setJobGroup", (group,)),
        JobCall("setExecutable", (EXECUTABLE,), {"arguments": arguments(job, inputs, placement),
                                                  "logFile": PAYLOAD_LOG, "includeInSandbox": False}),
        JobCall("setCPUTime", (cpu_time(job.execution_duration, placement),)),
        JobCall("setPriority", (placement.priority,)),
    ]
    outputs = [o.name for o in job.workflow.outputs if o.name not in (STDOUT, STDERR, PAYLOAD_LOG)]
    if outputs:
        calls.append(JobCall("setOutputSandbox", (outputs,)))
    if placement.sites:
        calls.append(JobCall("setDestination", ([plain_name(s, "Site") for s in placement.sites],)))
    if placement.tags:
        calls.append(JobCall("setTag", ([plain_name(t, "Tags") for t in placement.tags],)))
    if placement.platform:
        calls.append(JobCall("setPlatform", (plain_name(placement.platform, "Platform"),)))
    return JobDescription(name=name, job_group=group, calls=tuple(calls))
