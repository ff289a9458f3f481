"""The classic DIRAC job description: which Job API calls a job becomes, and that the user's values travel only
inside the DiracX wrapper's base64 spec."""

import base64
import json
import re
import shlex
from uuid import UUID

import pytest
from pydantic import SecretStr

from esap_backends import PermanentBackendError
from esap_backends.dirac import JobCall, job_description
from esap_backends.dirac.jdl import EXECUTABLE, PAYLOAD_LOG
from esap_backends.grid import FacilityPlacement, JobInputs
from esap_backends.grid.payload import arguments
from esap_messages import SubmitJob, WorkflowRun
from esap_messages.model import OutputFile

JOB_ID = UUID("01936b2e-7d3a-7c11-9a4e-5b2f8e1d0c3a")
HELLO = WorkflowRun(slug="hello-world", command=("python3", "helloworld.py"), files=("helloworld.py",),
                    outputs=(OutputFile(name="helloworld.json", mime_type="application/json"),))
TRICKY = {"Parameter1": 'say "hi"; {x} = [1]', "Parameter2": "a b\nc", "P3": "\\ ' $X %(n)s %n"}
CTADIRAC = FacilityPlacement(sites=("LCG.IN2P3-CC.fr", "LCG.CNAF.it"), tags=("docker",), platform="x86_64-el9")


def job(parameters: dict[str, str], execution_duration: int = 3600) -> SubmitJob:
    return SubmitJob(job_id=JOB_ID, facility="ctadirac", backend="dirac", workflow=HELLO, parameters=parameters,
                     execution_duration=execution_duration, callback_token=SecretStr("token-" + "x" * 30))


def test_a_placed_job_becomes_these_job_api_calls() -> None:
    inputs = JobInputs(files={"helloworld.py": b"print('hello')\n"}, callback_url="http://gw/cb")
    description = job_description(job(TRICKY), CTADIRAC, inputs)
    assert description.name == f"esap-{JOB_ID}" and description.job_group == "esap"
    assert (description.stdout, description.stderr) == ("stdout.txt", "stderr.txt")
    assert description.calls == (
        JobCall("setName", (f"esap-{JOB_ID}",)),
        JobCall("setJobGroup", ("esap",)),
        JobCall("setExecutable", (EXECUTABLE,), {"arguments": arguments(job(TRICKY), inputs, CTADIRAC),
                                                  "logFile": PAYLOAD_LOG, "includeInSandbox": False}),
        JobCall("setCPUTime", (3600,)),
        JobCall("setPriority", (1,)),
        JobCall("setOutputSandbox", (["helloworld.json"],)),
        JobCall("setDestination", (["LCG.IN2P3-CC.fr", "LCG.CNAF.it"],)),
        JobCall("setTag", (["docker"],)),
        JobCall("setPlatform", ("x86_64-el9",)),
    )


def test_an_unplaced_job_with_unlimited_duration_gets_the_default_cpu_time_and_no_placement() -> None:
    description = job_description(job({}, execution_duration=0), FacilityPlacement(default_cpu_time=7200),
                                  JobInputs())
    methods = [call.method for call in description.calls]
    assert "setDestination" not in methods and "setTag" not in methods and "setPlatform" not in methods
    assert JobCall("setCPUTime", (7200,)) in description.calls


def test_the_description_is_plain_json_for_the_bridge() -> None:
    description = job_description(job(TRICKY), CTADIRAC, JobInputs())
    wire = json.loads(json.dumps(description.to_json()))
    assert wire["stdout"] == "stdout.txt"
    assert wire["calls"][0] == {"method": "setName", "args": [f"esap-{JOB_ID}"], "kwargs": {}}


def test_the_users_values_reach_dirac_only_as_base64() -> None:
    description = job_description(job(TRICKY), CTADIRAC, JobInputs(files={"helloworld.py": b"x = {'a': [1]}\n"}))
    executable = next(call for call in description.calls if call.method == "setExecutable")
    text = executable.kwargs["arguments"]
    # What DIRAC's Job API treats specially: braces, equals outside base64 padding, double quotes, %-patterns.
    assert not re.search(r'[{}"%\\\n;]', text), text
    argv = shlex.split(f"{EXECUTABLE} {text}")  # as dirac-jobexec's Script step splits it
    assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 4
    spec = json.loads(base64.urlsafe_b64decode(argv[3]))
    assert spec["parameters"] == TRICKY


@pytest.mark.parametrize("placement", [
    FacilityPlacement(sites=("LCG.CERN.ch; rm",)),
    FacilityPlacement(tags=("a b",)),
    FacilityPlacement(platform='x"'),
    FacilityPlacement(job_group="{group}"),
    FacilityPlacement(runtime_engine="podman"),
])
def test_placements_dirac_could_not_take_are_refused(placement: FacilityPlacement) -> None:
    with pytest.raises(PermanentBackendError):
        job_description(job({}), placement, JobInputs())


def test_a_workflow_file_name_that_cannot_travel_is_refused() -> None:
    with pytest.raises(PermanentBackendError):
        job_description(job({}), FacilityPlacement(), JobInputs(files={"../etc/passwd": b""}))
