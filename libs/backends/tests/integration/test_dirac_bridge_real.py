"""The real bridge under DIRAC's own virtualenv (installed by the install module if missing; a failed install
fails these tests): the JDL and workflow DIRAC's Job API builds for our jobs, offline, against golden files, and
the payload a worker node would run decoding the parameters back unchanged. No DIRAC server here.

Set ESAP_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change (and review the diff).
"""

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr

from esap_backends import BackendError, PermanentBackendError
from esap_backends.dirac import DiracBridgeClient, DiracCallError, job_description
from esap_backends.dirac.testing import BRIDGE, real_bridge_client, real_bridge_python
from esap_backends.grid import FacilityPlacement, JobInputs
from esap_messages import SubmitJob, WorkflowRun
from esap_messages.model import OutputFile

GOLDEN = Path(__file__).parent / "golden_dirac"
JOB_ID = UUID("01936b2e-7d3a-7c11-9a4e-5b2f8e1d0c3a")
HELLO = WorkflowRun(slug="hello-world", command=("python3", "helloworld.py"), files=("helloworld.py",),
                    outputs=(OutputFile(name="helloworld.json", mime_type="application/json"),))
AWKWARD = {"Parameter1": 'say "hi"; {x} = [1]', "Parameter2": "a b\nc", "P3": "\\ ' $HOME `id` && %(n)s %n",
           "P4": "k=v; {{ }}", "P5": "é ☃ \t end"}
CTADIRAC = FacilityPlacement(sites=("LCG.IN2P3-CC.fr", "LCG.CNAF.it"), tags=("docker",), platform="x86_64-el9")
# What a DIRAC configuration server would say about sites and platforms, for the Job API's offline checks.
DIRAC_CFG = """\
Resources
{
  Sites
  {
    LCG
    {
      LCG.IN2P3-CC.fr
      {
        Name = IN2P3-CC
      }
      LCG.CNAF.it
      {
        Name = CNAF
      }
    }
  }
  Computing
  {
    OSCompatibility
    {
      x86_64-el9 = x86_64-el9
    }
  }
}
"""


@pytest.fixture(scope="session")
def dirac_python() -> Path:
    return real_bridge_python()


@pytest.fixture
async def bridge(dirac_python: Path, tmp_path: Path) -> AsyncIterator[DiracBridgeClient]:
    cfg = tmp_path / "dirac.cfg"
    cfg.write_text(DIRAC_CFG)
    client = real_bridge_client(dirac_python, cfg=cfg)
    try:
        yield client
    finally:
        await client.close()


def job(parameters: dict[str, str], run: WorkflowRun = HELLO) -> SubmitJob:
    return SubmitJob(job_id=JOB_ID, facility="ctadirac", backend="dirac", workflow=run, parameters=parameters,
                     execution_duration=3600, callback_token=SecretStr("token-" + "x" * 30))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ESAP_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; ESAP_UPDATE_GOLDEN=1 rewrites it"


async def build(bridge: DiracBridgeClient, submit: SubmitJob, placement: FacilityPlacement,
                inputs: JobInputs) -> dict[str, Any]:
    built = await bridge.call("build_jdl", {"description": job_description(submit, placement, inputs).to_json()})
    assert isinstance(built, dict)
    return built


def stable(jdl: str) -> str:
    """The JDL with the items of each list sorted: DIRAC joins the Site list from a set, in no fixed order."""
    def sort_block(match: re.Match[str]) -> str:
        indent, body = match.group(2), match.group(3)
        items = sorted(item.strip() for item in body.split(","))
        return "{\n" + indent + f",\n{indent}".join(items) + match.group(4)

    return re.sub(r"(\{\n( +))([^{}]*?)(\n *\})", sort_block, jdl.strip()) + "\n"


def run_as_dirac_jobexec(step: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The step's command as DIRAC's Script module runs it: executable and arguments joined, shlex-split, no
    shell."""
    argv = shlex.split(f"{step['executable']} {step['arguments']}")
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": os.environ["PATH"]})


async def test_hello_world_on_ctadirac_matches_its_golden_files(bridge: DiracBridgeClient) -> None:
    inputs = JobInputs(files={"helloworld.py": b"print('hello')\n"},
                       callback_url=f"http://gateway.example/uws/jobs/{JOB_ID}/callback")
    built = await build(bridge, job({}), CTADIRAC, inputs)
    check_golden("hello-world-ctadirac.jdl", stable(built["jdl"]))
    check_golden("hello-world-ctadirac.steps.json", json.dumps(built["steps"], indent=1) + "\n")
    assert bridge.dirac_version == "9.1.22"
    jdl = built["jdl"]
    for line in ("JobName = esap-01936b2e-7d3a-7c11-9a4e-5b2f8e1d0c3a;", "JobGroup = esap;", "CPUTime = 3600;",
                 "Tags = docker;", "Platform = x86_64-el9;", 'Executable = "dirac-jobexec";'):
        assert line in jdl, line
    assert "LCG.IN2P3-CC.fr" in jdl and "LCG.CNAF.it" in jdl


async def test_awkward_parameter_values_reach_the_payload_unchanged(bridge: DiracBridgeClient,
                                                                    tmp_path: Path) -> None:
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    run = WorkflowRun(slug="echo", command=(sys.executable, "-c", script, *(f"{{{name}}}" for name in AWKWARD)))
    built = await build(bridge, job(AWKWARD, run), FacilityPlacement(), JobInputs())
    check_golden("awkward-anywhere.jdl", stable(built["jdl"]))
    [step] = built["steps"]
    assert step["executable"] == "/bin/sh" and step["applicationLog"] == "payload.log"
    done = run_as_dirac_jobexec(step, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == list(AWKWARD.values())
    assert json.loads((tmp_path / "parameters.json").read_text(encoding="utf-8")) == AWKWARD


async def test_a_site_dirac_does_not_know_is_refused_by_the_job_api(bridge: DiracBridgeClient) -> None:
    with pytest.raises(PermanentBackendError, match=r"LCG\.Nowhere\.xx"):
        await build(bridge, job({}), FacilityPlacement(sites=("LCG.Nowhere.xx",)), JobInputs())
    # The bridge is still there for the next call.
    built = await build(bridge, job({}), FacilityPlacement(), JobInputs())
    assert "JobName = esap-" in built["jdl"]


async def test_without_a_reachable_dirac_every_server_call_is_a_transient_error(dirac_python: Path,
                                                                                tmp_path: Path) -> None:
    client = DiracBridgeClient([str(dirac_python), str(BRIDGE), "--setup", "Nowhere", "--config-server",
                                "dips://127.0.0.1:9/Configuration/Server"], timeout_seconds=60.0)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("bulk_status", {"job_ids": [1, 2]}), ("find_by_name", {"name": "esap-x", "job_group": "esap"}),
        ("kill", {"job_id": 5}),
        ("submit", {"description": job_description(job({}), FacilityPlacement(), JobInputs()).to_json()}),
        ("changed_since", {"since": "2026-01-02 03:04:05", "job_group": "esap"}),
        ("output_sandbox", {"job_id": 5, "directory": str(tmp_path / "incoming" / "5")}),
    ]
    try:
        for operation, args in calls:
            with pytest.raises(BackendError) as raised:
                await client.call(operation, args)
            assert not isinstance(raised.value, PermanentBackendError), (operation, raised.value)
            # DIRAC's own answer (its client reached the point of calling a server), not a bug of the bridge's
            assert isinstance(raised.value, DiracCallError) and raised.value.error["kind"] == "dirac", raised.value
    finally:
        await client.close()
