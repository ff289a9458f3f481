"""A workflow's runtime becomes the container its jobs name to their backend: the steering files' runtimes
convert, a plain process names none, and the state machine puts it in SubmitJob (which keeps it on the wire)."""

from dataclasses import replace
from pathlib import Path

from esap_catalog.domain.model import WorkflowSpec
from esap_catalog.domain.state_machine import apply
from esap_catalog.services.seeding import parse_workflow
from esap_messages import SubmitJob, WorkflowRun, decode, encode
from esap_messages.model import ContainerEngine, ContainerRuntime

from .catalog_fakes import create, make_env, only

REPO = Path(__file__).resolve().parents[4]


def spec(name: str) -> WorkflowSpec:
    return parse_workflow(name, (REPO / "workflows" / name).read_text()).to_spec()


def test_the_steering_files_runtimes_become_containers() -> None:
    assert spec("cta-mc-generation.json").runtime == ContainerRuntime(
        engine=ContainerEngine.DOCKER, image="registry.cta-observatory.org/esap-batch/cta-mc-prod6:1.0")
    corsika = spec("concordia.json").runtime
    assert corsika is not None and corsika.engine is ContainerEngine.SINGULARITY
    assert corsika.image.startswith("docker://")
    assert spec("hello-world.json").runtime is None and spec("sleep.json").runtime is None


def test_a_queued_job_hands_its_workflows_container_to_the_submitter() -> None:
    env = make_env()
    image = ContainerRuntime(engine=ContainerEngine.APPTAINER, image="/cvmfs/sw.example.org/mc.sif")
    mc = WorkflowSpec("mc", WorkflowRun(slug="mc", command=("mc-run",)), {}, ("dirac",), image)
    env = replace(env, workflows={**env.workflows, "mc": mc})
    decision = apply(None, create(workflow="mc", facility="ctadirac", run=True), env)
    [submit] = only(decision.outbox, SubmitJob)
    assert submit.runtime == image
    assert decode("SubmitJob", encode(submit)).runtime == image
    [plain] = only(apply(None, create(run=True), env).outbox, SubmitJob)
    assert plain.runtime is None
