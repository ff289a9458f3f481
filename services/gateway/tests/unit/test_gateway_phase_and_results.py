"""POST /uws/jobs/{id}/phase (RUN, ABORT), /results and result content served only from the work root."""

import os
import re
from pathlib import Path

import pytest

from esap_messages import AbortJob, Phase, RunJob, new_id
from esap_messages.api import ResultView


async def test_run_of_a_pending_job_publishes_run_job_and_redirects(client, publisher, make_job) -> None:
    job = make_job(phase=Phase.PENDING)

    response = await client.post(f"/uws/jobs/{job.job_id}/phase", data={"phase": "run"})

    assert response.status_code == 303
    assert response.headers["location"] == f"/uws/jobs/{job.job_id}"
    assert publisher.published == [RunJob(job_id=job.job_id, message_id=publisher.published[0].message_id,
                                          occurred_at=publisher.published[0].occurred_at)]


@pytest.mark.parametrize("phase", [Phase.PENDING, Phase.QUEUED, Phase.EXECUTING, Phase.UNKNOWN])
async def test_abort_of_a_job_not_yet_ended_publishes_abort_job(client, publisher, make_job, phase) -> None:
    job = make_job(phase=phase)

    response = await client.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "ABORT"})

    assert response.status_code == 303
    [command] = publisher.published
    assert isinstance(command, AbortJob) and command.job_id == job.job_id


@pytest.mark.parametrize("phase", [Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED, Phase.ABORTED])
async def test_run_of_a_job_that_is_not_pending_is_a_403(client, publisher, make_job, phase) -> None:
    job = make_job(phase=phase)

    response = await client.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"})

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain") and phase.value in response.text
    assert publisher.published == []


@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.ERROR, Phase.ABORTED, Phase.ARCHIVED])
async def test_abort_of_an_ended_job_is_a_403(client, publisher, make_job, phase) -> None:
    job = make_job(phase=phase)

    response = await client.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "ABORT"})

    assert response.status_code == 403
    assert publisher.published == []


@pytest.mark.parametrize("form", [{}, {"PHASE": "SUSPEND"}, {"PHASE": ""}, {"ACTION": "DELETE"}])
async def test_other_phase_values_are_a_400(client, publisher, make_job, form) -> None:
    job = make_job()

    response = await client.post(f"/uws/jobs/{job.job_id}/phase", data=form)

    assert response.status_code == 400 and response.text.startswith("PHASE:")
    assert publisher.published == []


async def test_a_phase_change_of_an_unknown_job_is_a_404(client, publisher) -> None:
    response = await client.post(f"/uws/jobs/{new_id()}/phase", data={"PHASE": "ABORT"})

    assert response.status_code == 404
    assert publisher.published == []


async def test_an_unconfirmed_phase_change_is_a_503(client, publisher, make_job) -> None:
    job = make_job()
    publisher.refuse = True

    response = await client.post(f"/uws/jobs/{job.job_id}/phase", data={"PHASE": "RUN"})

    assert response.status_code == 503


def result(work_root: Path, name: str, content: bytes, mime_type: str = "application/json") -> ResultView:
    path = work_root / "job" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return ResultView(id=name, size=len(content), mime_type=mime_type, location=path.as_uri())


async def test_the_results_list_is_valid_uws(client, make_job, work_root, uws_schema) -> None:
    job = make_job(phase=Phase.COMPLETED, results=[result(work_root, "helloworld.json", b"{}")])

    response = await client.get(f"/uws/jobs/{job.job_id}/results")

    assert response.status_code == 200
    uws_schema.validate(response.content)
    assert b'id="helloworld.json"' in response.content and b'mime-type="application/json"' in response.content
    assert f"http://gateway.test/uws/jobs/{job.job_id}/results/helloworld.json".encode() in response.content
    assert (await client.get(f"/uws/jobs/{new_id()}/results")).status_code == 404


async def test_a_result_under_the_work_root_is_served_with_its_mime_type(client, make_job, work_root) -> None:
    job = make_job(phase=Phase.COMPLETED, results=[result(work_root, "helloworld.json", b'{"a": 1}'),
                                                   result(work_root, "stdout", b"hello\n", "text/plain")])

    content = await client.get(f"/uws/jobs/{job.job_id}/results/helloworld.json")
    stdout = await client.get(f"/uws/jobs/{job.job_id}/results/stdout")

    assert content.status_code == 200 and content.content == b'{"a": 1}'
    assert content.headers["content-type"] == "application/json"
    assert stdout.text == "hello\n" and stdout.headers["content-type"].startswith("text/plain")


async def test_results_outside_the_work_root_or_elsewhere_are_not_served(client, make_job, work_root,
                                                                         tmp_path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (work_root / "link").symlink_to(outside)
    job = make_job(phase=Phase.COMPLETED, results=[
        ResultView(id="outside", size=6, mime_type="text/plain", location=outside.as_uri()),
        ResultView(id="dotdot", size=6, mime_type="text/plain", location=f"file://{work_root}/../secret.txt"),
        ResultView(id="link", size=6, mime_type="text/plain", location=(work_root / "link").as_uri()),
        ResultView(id="remote", size=6, mime_type="text/plain", location="https://example.org/secret.txt"),
        ResultView(id="host", size=6, mime_type="text/plain", location=f"file://elsewhere{outside}"),
        ResultView(id="gone", size=6, mime_type="text/plain", location=(work_root / "gone").as_uri()),
        ResultView(id="dir", size=0, mime_type="text/plain", location=work_root.as_uri()),
    ])

    for result_id in ("outside", "dotdot", "link", "remote", "host", "gone", "dir", "unknown"):
        response = await client.get(f"/uws/jobs/{job.job_id}/results/{result_id}")
        assert response.status_code == 404, result_id
        assert "secret" not in response.text


async def test_links_a_payload_makes_to_another_jobs_files_are_not_served(client, make_job, work_root) -> None:
    other = work_root / "other-job"
    other.mkdir()
    (other / "secret.json").write_text('{"secret": 1}')
    mine = work_root / "my-job"
    mine.mkdir()
    (mine / "symbolic.json").symlink_to(other / "secret.json")
    os.link(other / "secret.json", mine / "hard.json")
    os.mkfifo(mine / "fifo")
    (work_root / "linked-job").symlink_to(other, target_is_directory=True)
    job = make_job(phase=Phase.COMPLETED, results=[
        ResultView(id="symbolic", size=13, mime_type="application/json", location=(mine / "symbolic.json").as_uri()),
        ResultView(id="hard", size=13, mime_type="application/json", location=(mine / "hard.json").as_uri()),
        ResultView(id="fifo", size=0, mime_type="text/plain", location=(mine / "fifo").as_uri()),
        ResultView(id="through-a-linked-directory", size=13, mime_type="application/json",
                   location=(work_root / "linked-job" / "secret.json").as_uri()),
    ])

    for result_id in ("symbolic", "hard", "fifo", "through-a-linked-directory"):
        response = await client.get(f"/uws/jobs/{job.job_id}/results/{result_id}")
        assert response.status_code == 404, result_id
        assert "secret" not in response.text


async def test_the_main_result_is_listed_first_as_result_and_served_whatever_the_workflow_names_it(
    client, make_job, work_root, uws_schema
) -> None:
    job = make_job(phase=Phase.COMPLETED, results=[result(work_root, "stdout", b"log\n", "text/plain"),
                                                   result(work_root, "stderr", b"", "text/plain"),
                                                   result(work_root, "helloworld.json", b'{"a": 1}')])

    listed = await client.get(f"/uws/jobs/{job.job_id}/results")
    main = await client.get(f"/uws/jobs/{job.job_id}/results/result")

    uws_schema.validate(listed.content)
    ids = re.findall(rb'id="([^"]+)"', listed.content)
    assert ids == [b"result", b"stdout", b"stderr", b"helloworld.json"]
    assert f"/uws/jobs/{job.job_id}/results/result".encode() in listed.content
    assert main.status_code == 200 and main.content == b'{"a": 1}'
    assert main.headers["content-type"] == "application/json"


async def test_without_a_declared_output_the_main_result_is_the_standard_output(client, make_job, work_root) -> None:
    job = make_job(phase=Phase.COMPLETED, results=[result(work_root, "stdout", b"hello\n", "text/plain"),
                                                   result(work_root, "stderr", b"", "text/plain")])

    assert (await client.get(f"/uws/jobs/{job.job_id}/results/result")).text == "hello\n"
    assert (await client.get(f"/uws/jobs/{make_job().job_id}/results/result")).status_code == 404
