"""A campaign on the CTADIRAC facility, through the four services as processes, the development DiracX and the test
pilot: a 50-child sweep of Hello World reaches COMPLETED with every child COMPLETED, the children went to DiracX in
bulk (a handful of submission calls of up to 20 jobs, read from the submitter's metrics, not one call per child),
and DiracX holds exactly one job per child."""

import math
import re
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from lxml import etree
from tests.e2e.uws_client import create_job, listed, wait_for_phase

from esap_backends.diracx.backend import MAX_SUBMIT_BATCH
from esap_backends.diracx.devserver import ADMIN_GROUP, DevServer
from esap_backends.diracx.pilot import TestPilot
from esap_backends.diracx.testing import client_for, diracx_env, diracx_server, pilot  # noqa: F401
from esap_backends.grid.payload import JOB_NAME_PREFIX
from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
JOBINFO = "{urn:esap-batch:jobinfo:v1}"
CHILDREN = 50
SLACK = 3  # a batch may leave before it is full (the coalescing delay), and a few children arrive late


@pytest.fixture(scope="module")
async def stack(diracx_env: None, stack: Stack) -> AsyncIterator[Stack]:  # noqa: F811
    yield stack


async def submission_calls(stack: Stack) -> tuple[int, int]:
    """The submitter's DiracX submission calls so far, and the jobs they carried (its batch histogram)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{stack.services['submitter'].url}/metrics")).text
    found = {kind: float(value) for kind, value in re.findall(
        r'^submitter_backend_batch_jobs_(count|sum)\{backend="diracx"\} (\S+)$', text, re.MULTILINE)}
    return int(found.get("count", 0)), int(found.get("sum", 0))


async def dirac_jobs_named(server: DevServer, names: list[str]) -> list[str]:
    """The JobName of every DIRAC job carrying one of ``names`` (twice if DIRAC has two)."""
    async with aiohttp.ClientSession() as session:
        rows = await client_for(server, session, ADMIN_GROUP).search(("JobID", "JobName"), [
            {"parameter": "JobName", "operator": "in", "values": names}])
    return [str(row["JobName"]) for row in rows]


def children_by_phase(job_xml: bytes) -> tuple[int, dict[str, str]]:
    counts = etree.fromstring(job_xml).find(f"{UWS}jobInfo/{JOBINFO}children")
    assert counts is not None
    return int(counts.get("submitted")), {c.get("phase"): c.text for c in counts}


async def test_a_50_child_sweep_on_ctadirac_completes_in_a_few_bulk_submissions(
        client: httpx.AsyncClient, stack: Stack, pilot: TestPilot, diracx_server: DevServer) -> None:  # noqa: F811
    calls_before, jobs_before = await submission_calls(stack)

    campaign = await create_job(client, WORKFLOW="hello-world", FACILITY="ctadirac",
                                SWEEP=f"Parameter1=1..{CHILDREN}", PHASE="RUN")
    await wait_for_phase(client, campaign, {"COMPLETED"}, within=240)

    submitted, phases = children_by_phase((await client.get(f"/uws/jobs/{campaign}")).content)
    assert submitted == CHILDREN and phases == {"COMPLETED": str(CHILDREN)}
    children = await listed(client, PARENT=campaign)
    assert len(children) == CHILDREN
    calls, jobs = await submission_calls(stack)
    assert jobs - jobs_before == CHILDREN
    assert calls - calls_before <= math.ceil(CHILDREN / MAX_SUBMIT_BATCH) + SLACK, "not submitted in bulk"
    names = await dirac_jobs_named(diracx_server, [f"{JOB_NAME_PREFIX}{child}" for child in children])
    assert sorted(names) == sorted(set(names)) and len(names) == CHILDREN  # one DIRAC job per child, no more
