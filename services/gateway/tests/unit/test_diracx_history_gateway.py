"""The backend's history of a job (DIRAC's logging info) in UWS jobInfo, XML (still valid UWS 1.1) and JSON, and
on the console's job timeline."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from esap_gateway.adapters.uws_xml import JOBINFO_NAMESPACE
from esap_gateway.config import Settings
from esap_gateway.console.session import templates
from esap_messages import BackendHistoryEntry, DiracStatus, Phase
from esap_messages.api import DiracView, JobView

ALICE = {"Authorization": "Bearer token-a"}
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HISTORY = [
    BackendHistoryEntry(status="Received", minor_status="Job accepted", application_status="Unknown",
                        source="JobManager", at=T0),
    BackendHistoryEntry(status="Running", minor_status="Application", application_status="Crunching <data> & co",
                        source="JobWrapper", at=T0 + timedelta(seconds=5)),
    BackendHistoryEntry(status="Done", minor_status="Execution Complete", source="JobWrapper",
                        at=T0 + timedelta(seconds=65)),
]


@pytest.fixture
def settings(work_root: Path) -> Settings:
    return Settings(local_work_root=work_root, static_tokens='{"token-a": "alice"}')


def diracx_job(make_job: Callable[..., JobView]) -> JobView:
    return make_job(owner="alice", phase=Phase.COMPLETED, backend="diracx", backend_job_id="77",
                    dirac=DiracView(status=DiracStatus.DONE, minor_status="Execution Complete"),
                    backend_history=HISTORY)


async def test_xml_job_info_lists_the_history_beside_the_status(
        client: httpx.AsyncClient, make_job: Callable[..., JobView], uws_job: Callable[[httpx.Response], Any]) -> None:
    job = diracx_job(make_job)
    response = await client.get(f"/uws/jobs/{job.job_id}", headers=ALICE)
    parsed = uws_job(response)  # valid against the UWS 1.1 schema, and read as pyvo reads it
    assert parsed.phase == "COMPLETED"
    info = ElementTree.fromstring(response.content).find("{http://www.ivoa.net/xml/UWS/v1.0}jobInfo")
    assert info is not None
    ns = {"esap": JOBINFO_NAMESPACE}
    assert info.findtext("esap:status", namespaces=ns) == "Done"
    assert info.findtext("esap:minorStatus", namespaces=ns) == "Execution Complete"
    entries = info.findall("esap:history/esap:entry", ns)
    assert [(e.get("status"), e.get("minorStatus"), e.get("applicationStatus"), e.get("source")) for e in entries] == [
        (h.status, h.minor_status, h.application_status, h.source) for h in HISTORY]
    assert [datetime.fromisoformat(str(e.get("time"))) for e in entries] == [h.at for h in HISTORY]


async def test_xml_job_info_has_no_history_element_without_one(
        client: httpx.AsyncClient, make_job: Callable[..., JobView], uws_job: Callable[[httpx.Response], Any]) -> None:
    job = make_job(owner="alice")
    response = await client.get(f"/uws/jobs/{job.job_id}", headers=ALICE)
    uws_job(response)
    assert b"history" not in response.content


async def test_json_job_info_lists_the_history(client: httpx.AsyncClient, make_job: Callable[..., JobView]) -> None:
    job = diracx_job(make_job)
    response = await client.get(f"/uws/jobs/{job.job_id}", headers={**ALICE, "Accept": "application/json"})
    info = response.json()["jobInfo"]
    assert info["status"] == "Done" and info["minorStatus"] == "Execution Complete"
    assert [(e["status"], e["minorStatus"], e["applicationStatus"], e["source"]) for e in info["history"]] == [
        (h.status, h.minor_status, h.application_status, h.source) for h in HISTORY]
    assert [datetime.fromisoformat(e["time"]) for e in info["history"]] == [h.at for h in HISTORY]
    plain = make_job(owner="alice")
    answer = await client.get(f"/uws/jobs/{plain.job_id}", headers={**ALICE, "Accept": "application/json"})
    assert answer.json()["jobInfo"]["history"] == []


def test_the_console_timeline_shows_the_history(make_job: Callable[..., JobView]) -> None:
    job = diracx_job(make_job)
    html = templates.get_template("job_live.html").render({"request": None, "job": job, "results": [],
                                                           "final": True})
    section = html.split('id="backend-history"', 1)[1].split("</ol>", 1)[0]
    assert section.count("<li>") == 3
    assert section.index("Received") < section.index("Running") < section.index("Done")
    assert "Crunching &lt;data&gt; &amp; co" in section and "JobWrapper" in section
    assert 'datetime="2026-03-01T12:01:05+00:00"' in section
    plain = templates.get_template("job_live.html").render({"request": None, "job": make_job(owner="alice"),
                                                            "results": [], "final": False})
    assert "backend-history" not in plain
