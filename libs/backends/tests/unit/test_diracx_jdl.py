"""JDL generation: golden files for the JDL itself, and the properties that keep DiracX from garbling it.

Set ESAP_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change (and review the diff).
"""

import base64
import json
import os
import re
from pathlib import Path
from uuid import UUID

import pytest
from pydantic import SecretStr

from esap_backends import PermanentBackendError
from esap_backends.diracx import FacilityPlacement, JobInputs, to_backend_status, to_jdl
from esap_backends.grid.payload import WRAPPER, arguments, encode_spec
from esap_backends.grid.placement import cpu_time
from esap_messages import DiracStatus, SubmitJob, WorkflowRun
from esap_messages.api import ParameterView
from esap_messages.model import ContainerRuntime, OutputFile

GOLDEN = Path(__file__).parent / "golden"
CTA_MC = Path(__file__).resolve().parents[4] / "workflows" / "cta-mc-generation.json"
JOB_ID = UUID("01936b2e-7d3a-7c11-9a4e-5b2f8e1d0c3a")
HELLO = WorkflowRun(slug="hello-world", command=("python3", "helloworld.py"), files=("helloworld.py",),
                    outputs=(OutputFile(name="helloworld.json", mime_type="application/json"),))
TRICKY = {"Parameter1": 'say "hi"; {x} = [1]', "Parameter2": "a b\nc", "Parameter3": "k=v", "P4": "\\ ' $X"}
CTADIRAC = FacilityPlacement(sites=("LCG.IN2P3-CC.fr", "LCG.CNAF.it"), tags=("docker",), platform="x86_64-el9")


def job(parameters: dict[str, str], execution_duration: int = 3600, run: WorkflowRun = HELLO,
        runtime: ContainerRuntime | None = None) -> SubmitJob:
    return SubmitJob(job_id=JOB_ID, facility="ctadirac", backend="diracx", workflow=run, runtime=runtime,
                     parameters=parameters, execution_duration=execution_duration,
                     callback_token=SecretStr("token-" + "x" * 30))


def cta_mc_generation() -> SubmitJob:
    """A job of the catalogue's CTA MC Generation workflow as its steering file declares it: its defaults, and a
    run number and seed (required)."""
    steering = json.loads(CTA_MC.read_text())
    parameters = [ParameterView.model_validate(p) for p in steering["parameters"]]
    values = {p.name: p.default for p in parameters if p.default is not None} | {"run_number": "7", "seed": "4242"}
    return job(values, 7200, WorkflowRun.model_validate(steering["run"]),
               ContainerRuntime.model_validate(steering["runtime"]))


def spec_of(jdl_text: str) -> dict[str, object]:
    """The spec a worker node decodes from the JDL's Arguments."""
    encoded = re.search(r"Arguments = \"-c '[^']*' ([A-Za-z0-9_=-]+)\";", jdl_text)
    assert encoded is not None, jdl_text
    spec: dict[str, object] = json.loads(base64.urlsafe_b64decode(encoded.group(1)))
    return spec


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ESAP_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; ESAP_UPDATE_GOLDEN=1 rewrites it"


def test_hello_world_on_ctadirac_matches_its_golden_file() -> None:
    inputs = JobInputs(files={"helloworld.py": b"print('hello')\n"},
                       callback_url=f"http://gateway.example/uws/jobs/{JOB_ID}/callback")
    check_golden("hello-world-ctadirac.jdl", to_jdl(job(TRICKY), CTADIRAC, inputs) + "\n")


def test_a_job_without_placement_matches_its_golden_file() -> None:
    sleep = WorkflowRun(slug="sleep", command=("sleep", "{seconds}"))
    check_golden("sleep-anywhere.jdl", to_jdl(job({"seconds": "5"}, 0, sleep), FacilityPlacement(), JobInputs())
                 + "\n")


def test_a_workflow_naming_no_container_runs_in_the_facilitys_default_image() -> None:
    placement = FacilityPlacement(sites=("LCG.IN2P3-CC.fr",), tags=("docker",), runtime_engine="docker",
                                  container_image="ctao/sim:6.1")
    text = to_jdl(job({}), placement, JobInputs())
    check_golden("hello-world-docker.jdl", text + "\n")
    assert spec_of(text)["engine"] == {"kind": "docker", "image": "ctao/sim:6.1"}


def test_cta_mc_generation_on_ctadirac_runs_in_its_own_image() -> None:
    inputs = JobInputs(callback_url=f"http://gateway.example/uws/jobs/{JOB_ID}/callback")
    text = to_jdl(cta_mc_generation(), CTADIRAC, inputs)
    check_golden("cta-mc-generation-ctadirac.jdl", text + "\n")
    spec = spec_of(text)
    assert spec["engine"] == {"kind": "docker", "image": "registry.cta-observatory.org/esap-batch/cta-mc-prod6:1.0"}
    assert spec["command"] == list(cta_mc_generation().workflow.command)


def test_an_apptainer_facility_runs_a_docker_image_in_its_docker_form() -> None:
    placement = FacilityPlacement(sites=("LCG.CNAF.it",), tags=("apptainer",), runtime_engine="apptainer",
                                  container_image="/cvmfs/sw.example.org/images/default.sif")
    text = to_jdl(cta_mc_generation(), placement, JobInputs())
    check_golden("cta-mc-generation-apptainer.jdl", text + "\n")
    assert spec_of(text)["engine"] == {
        "kind": "apptainer", "image": "docker://registry.cta-observatory.org/esap-batch/cta-mc-prod6:1.0"}


def test_a_runtime_engine_the_wrapper_does_not_know_is_refused() -> None:
    with pytest.raises(PermanentBackendError, match="podman"):
        to_jdl(job({}), FacilityPlacement(runtime_engine="podman", container_image="x:1"), JobInputs())


def test_only_harmless_characters_reach_the_jdl() -> None:
    text = to_jdl(job(TRICKY), CTADIRAC, JobInputs(files={"helloworld.py": b"x = {'a': [1]};\n"}))
    strings = re.findall(r'"([^"]*)"', text)
    assert all(re.fullmatch(r"[A-Za-z0-9_=.+/$'|>& -]*", s) for s in strings), strings
    assert "\\" not in text


def test_the_spec_carries_parameters_files_and_callback_unchanged() -> None:
    inputs = JobInputs(files={"helloworld.py": b"\x00binary\xff"}, callback_url="http://gw/cb")
    spec = json.loads(base64.urlsafe_b64decode(encode_spec(job(TRICKY), inputs)))
    assert spec["parameters"] == TRICKY
    assert spec["command"] == ["python3", "helloworld.py"]
    assert base64.b64decode(spec["files"]["helloworld.py"]) == b"\x00binary\xff"
    assert spec["callback"] == {"url": "http://gw/cb", "token": "token-" + "x" * 30}


def test_the_wrapper_travels_encoded_and_is_valid_python() -> None:
    args = arguments(job({}), JobInputs())
    encoded = re.search(r"echo ([A-Za-z0-9+/=]+) \|", args)
    assert encoded is not None
    decoded = base64.b64decode(encoded.group(1)).decode()
    assert decoded == WRAPPER
    compile(decoded, "esap_wrapper.py", "exec")


def test_cpu_time_comes_from_the_execution_duration() -> None:
    placement = FacilityPlacement(default_cpu_time=7200)
    assert cpu_time(600, placement) == 600
    assert cpu_time(0, placement) == 7200
    assert "CPUTime = 600;" in to_jdl(job({}, 600), placement, JobInputs())


@pytest.mark.parametrize("placement", [FacilityPlacement(sites=("LCG.X; rm",)), FacilityPlacement(tags=("a b",)),
                                       FacilityPlacement(platform='x"y')])
def test_facility_values_that_are_not_plain_names_are_refused(placement: FacilityPlacement) -> None:
    with pytest.raises(PermanentBackendError):
        to_jdl(job({}), placement, JobInputs())


def test_a_workflow_file_name_that_cannot_travel_is_refused() -> None:
    with pytest.raises(PermanentBackendError):
        to_jdl(job({}), FacilityPlacement(), JobInputs(files={"a b.py": b""}))


def test_search_rows_become_statuses() -> None:
    done = to_backend_status({"JobID": 7, "Status": "Done", "MinorStatus": "Execution Complete",
                              "ApplicationStatus": "ok", "Site": "LCG.X.fr",
                              "StartExecTime": "2026-01-02T03:04:05.123Z", "EndExecTime": None})
    assert done is not None and done.is_final and done.site == "LCG.X.fr"
    assert done.started_at is not None and done.started_at.tzinfo is not None
    failed = to_backend_status({"JobID": 8, "Status": "Failed", "MinorStatus": "Application Finished With Errors",
                                "ApplicationStatus": "exit code 3"})
    assert failed is not None and failed.status is DiracStatus.FAILED
    assert failed.error == "DIRAC: Application Finished With Errors; exit code 3"
    assert to_backend_status({"JobID": 9, "Status": "Frobnicated"}) is None
