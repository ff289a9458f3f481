"""Which container a DiracX job runs in: the workflow's own wins, the facility's default serves workflows that
name none, and the facility's engine decides how an image runs (or refuses one it cannot)."""

from uuid import UUID

import pytest
from pydantic import SecretStr

from esap_backends import PermanentBackendError
from esap_backends.grid.placement import FacilityPlacement, container
from esap_messages import SubmitJob, WorkflowRun
from esap_messages.model import ContainerEngine, ContainerRuntime

DOCKER = ContainerRuntime(engine=ContainerEngine.DOCKER, image="registry.example.org/mc:1.0")
SINGULARITY_FROM_DOCKER = ContainerRuntime(engine=ContainerEngine.SINGULARITY, image="docker://registry.example.org/c:7")
SIF = ContainerRuntime(engine=ContainerEngine.APPTAINER, image="/cvmfs/sw.example.org/images/c.sif")


def job(runtime: ContainerRuntime | None) -> SubmitJob:
    return SubmitJob(job_id=UUID(int=1), facility="f", backend="diracx", runtime=runtime, parameters={},
                     workflow=WorkflowRun(slug="w", command=("run",)), execution_duration=0,
                     callback_token=SecretStr("t" * 32))


def facility(engine: str = "", image: str = "") -> FacilityPlacement:
    return FacilityPlacement(runtime_engine=engine, container_image=image)


@pytest.mark.parametrize(("runtime", "placement", "expected"), [
    (None, facility(), None),
    (None, facility("apptainer"), None),  # an engine alone maps engines; it is no default
    (None, facility("docker", "ctao/base:1"), ("docker", "ctao/base:1")),
    (DOCKER, facility(), ("docker", "registry.example.org/mc:1.0")),
    (DOCKER, facility("docker", "ctao/base:1"), ("docker", "registry.example.org/mc:1.0")),  # the workflow's wins
    (DOCKER, facility("apptainer"), ("apptainer", "docker://registry.example.org/mc:1.0")),
    (DOCKER, facility("singularity", "/cvmfs/x.sif"), ("singularity", "docker://registry.example.org/mc:1.0")),
    (SINGULARITY_FROM_DOCKER, facility("apptainer"), ("apptainer", "docker://registry.example.org/c:7")),
    (SINGULARITY_FROM_DOCKER, facility("docker"), ("docker", "registry.example.org/c:7")),
    (SIF, facility(), ("apptainer", "/cvmfs/sw.example.org/images/c.sif")),
    (SIF, facility("singularity"), ("singularity", "/cvmfs/sw.example.org/images/c.sif")),
])
def test_the_container_a_job_runs_in(runtime: ContainerRuntime | None, placement: FacilityPlacement,
                                     expected: tuple[str, str] | None) -> None:
    assert container(job(runtime), placement) == expected


@pytest.mark.parametrize(("runtime", "placement", "reason"), [
    (SIF, facility("docker"), "runs containers with docker; the workflow's apptainer image"),
    (None, facility("", "ctao/base:1"), "default container image needs a runtime engine"),
    (DOCKER, facility("podman"), "'podman' is not one of"),
    (ContainerRuntime(engine=ContainerEngine.DOCKER, image="-v /:/host evil"), facility(),
     "is not a container image reference"),
    (ContainerRuntime(engine=ContainerEngine.DOCKER, image="a;b"), facility("apptainer"),
     "is not a container image reference"),
])
def test_what_the_facility_cannot_run_is_refused_for_good(runtime: ContainerRuntime | None,
                                                          placement: FacilityPlacement, reason: str) -> None:
    with pytest.raises(PermanentBackendError, match=reason):
        container(job(runtime), placement)
