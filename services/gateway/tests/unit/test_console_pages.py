"""The console's pages over fakes of the gateway's ports: sign-in (token form and OIDC with PKCE through a fake
token exchange), search, submission with the server's checks and sweeps, the job list and page (a campaign's
progress and children), live events, results and actions (run again included). No I/O beyond the in-memory app."""

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from esap_gateway.config import Settings
from esap_gateway.console.campaigns import CHILDREN_PAGE, progress
from esap_gateway.console.live import list_events
from esap_gateway.console.oidc import SignInAttempt, SignInError
from esap_gateway.console.resources import ConsoleResources
from esap_gateway.console.settings import ConsoleSettings
from esap_gateway.main import create_app
from esap_messages import AbortJob, CreateCampaign, CreateJob, DeleteJob, Phase, UpdateJob
from esap_messages.api import ChildrenView, FacilityView, JobView, ParameterView, ResultView, WorkflowView

BASE = "http://gateway.test"


class FakeLister:
    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog

    async def workflows(self) -> list[WorkflowView]:
        return list(self._catalog.workflows.values())

    async def facilities(self) -> list[FacilityView]:
        return list(self._catalog.facilities.values())


class FakeExchanger:
    """The identity provider's side of the code flow, in memory; its access token is a static token."""

    def __init__(self) -> None:
        self.exchanged: list[tuple[str, SignInAttempt, str]] = []
        self.refuse = False

    async def authorization_url(self, attempt: SignInAttempt, redirect_uri: str) -> str:
        return (f"https://idp.test/authorize?state={attempt.state}&code_challenge={attempt.challenge}"
                f"&code_challenge_method=S256&redirect_uri={redirect_uri}")

    async def exchange(self, code: str, attempt: SignInAttempt, redirect_uri: str) -> str:
        self.exchanged.append((code, attempt, redirect_uri))
        if self.refuse:
            raise SignInError("invalid_grant")
        return "token-a"


@pytest.fixture
def exchanger() -> FakeExchanger:
    return FakeExchanger()


@pytest.fixture
async def console_client(work_root: Path, catalog: Any, publisher: Any,
                         exchanger: FakeExchanger) -> AsyncIterator[httpx.AsyncClient]:
    catalog.workflows["bounded"] = catalog.workflows["noop"].model_copy(update={
        "slug": "bounded", "name": "Bounded",
        "parameters": [ParameterView(name="seconds", type="integer", minimum=0, maximum=100, default="5",
                                     unit="s")]})
    settings = Settings(local_work_root=work_root, allow_anonymous=False,
                        static_tokens='{"token-a": "alice", "token-b": "bob"}')  # type: ignore[arg-type]
    console = ConsoleResources(ConsoleSettings(), FakeLister(catalog), exchanger)
    app: FastAPI = create_app(settings, catalog=catalog, publisher=publisher, console=console)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http


async def _sign_in(client: httpx.AsyncClient, token: str = "token-a") -> None:
    answer = await client.post("/signin", data={"token": token, "next": "/jobs"})
    assert answer.status_code == 303, answer.text


async def test_pages_need_a_signed_in_user(console_client: httpx.AsyncClient) -> None:
    answer = await console_client.get("/jobs")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/jobs"
    console_client.cookies.set("esap_console_token", "forged")
    answer = await console_client.get("/jobs")
    assert answer.status_code == 303 and 'esap_console_token=""' in answer.headers["set-cookie"]


async def test_token_sign_in_sets_an_http_only_lax_cookie(console_client: httpx.AsyncClient) -> None:
    refused = await console_client.post("/signin", data={"token": "nope", "next": "/jobs"})
    assert refused.status_code == 401 and "not accepted" in refused.text
    answer = await console_client.post("/signin", data={"token": "token-a", "next": "//evil.test/x"})
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert (await console_client.get("/jobs")).status_code == 200


async def test_oidc_sign_in_with_pkce(console_client: httpx.AsyncClient, exchanger: FakeExchanger) -> None:
    start = await console_client.get("/signin/oidc", params={"next": "/jobs"})
    assert start.status_code == 303
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    wrong = await console_client.get("/signin/callback", params={"code": "c1", "state": "not-the-state"})
    assert wrong.status_code == 400 and not exchanger.exchanged
    done = await console_client.get("/signin/callback", params={"code": "c1", "state": query["state"][0]})
    assert done.status_code == 303 and done.headers["location"] == "/jobs"
    code, attempt, redirect_uri = exchanger.exchanged[0]
    assert code == "c1" and attempt.challenge == query["code_challenge"][0]
    assert redirect_uri == f"{BASE}/signin/callback"
    assert (await console_client.get("/jobs")).status_code == 200


async def test_refused_code_exchange_is_explained(console_client: httpx.AsyncClient,
                                                  exchanger: FakeExchanger) -> None:
    exchanger.refuse = True
    start = await console_client.get("/signin/oidc")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    answer = await console_client.get("/signin/callback", params={"code": "c", "state": state})
    assert answer.status_code == 401 and "invalid_grant" in answer.text


async def test_search_filters_as_the_user_types(console_client: httpx.AsyncClient) -> None:
    await _sign_in(console_client)
    page = await console_client.get("/search", params={"q": "bound"})
    assert 'data-slug="bounded"' in page.text and 'data-slug="hello-world"' not in page.text
    full = await console_client.get("/")
    assert 'data-slug="hello-world"' in full.text and 'data-slug="cta-dirac"' in full.text


async def test_form_carries_defaults_and_limits(console_client: httpx.AsyncClient) -> None:
    await _sign_in(console_client)
    page = await console_client.get("/workflows/bounded")
    field = re.search(r"<input id=\"p-seconds\"[^>]*>", page.text, re.S)
    assert field is not None
    for attribute in ('type="number"', 'value="5"', 'min="0.0"', 'max="100.0"', 'step="1"'):
        assert attribute in field.group(0)
    assert '<label for="p-seconds">seconds (s)' in page.text


async def test_submission_runs_the_job_as_the_user(console_client: httpx.AsyncClient, publisher: Any) -> None:
    await _sign_in(console_client)
    answer = await console_client.post("/workflows/hello-world", data={
        "p.Parameter1": "changed", "facility": "local", "run_id": "mine", "action": "run"})
    assert answer.status_code == 303
    [created] = [m for m in publisher.published if isinstance(m, CreateJob)]
    assert answer.headers["location"] == f"/jobs/{created.job_id}"
    assert created.owner == "alice" and created.run and created.run_id == "mine"
    assert created.parameters["Parameter1"] == "changed" and created.parameters["Parameter2"] == "2"


async def test_values_out_of_limits_are_refused_on_the_server(console_client: httpx.AsyncClient,
                                                             publisher: Any) -> None:
    await _sign_in(console_client)
    answer = await console_client.post("/workflows/bounded", data={"p.seconds": "500", "facility": "local"})
    assert answer.status_code == 400 and "seconds" in answer.text
    assert not publisher.published


async def test_job_page_previews_results_and_stays_private(console_client: httpx.AsyncClient, work_root: Path,
                                                           make_job: Callable[..., JobView]) -> None:
    (work_root / "j").mkdir()
    (work_root / "j" / "out.json").write_text('{"answer": 42}')
    results = [ResultView(id="out.json", size=14, mime_type="application/json",
                          location=(work_root / "j" / "out.json").as_uri())]
    mine = make_job(owner="alice", phase=Phase.COMPLETED, results=results)
    theirs = make_job(owner="bob")
    await _sign_in(console_client)
    page = await console_client.get(f"/jobs/{mine.job_id}")
    assert page.status_code == 200 and "&#34;answer&#34;: 42" in page.text
    download = await console_client.get(f"/jobs/{mine.job_id}/results/out.json")
    assert download.status_code == 200 and download.json() == {"answer": 42}
    assert (await console_client.get(f"/jobs/{theirs.job_id}")).status_code == 403
    listing = await console_client.get("/jobs")
    assert str(mine.job_id) in listing.text and str(theirs.job_id) not in listing.text


async def test_events_of_an_ended_job_end_the_stream(console_client: httpx.AsyncClient,
                                                     make_job: Callable[..., JobView]) -> None:
    job = make_job(owner="alice", phase=Phase.ERROR)
    await _sign_in(console_client)
    answer = await console_client.get(f"/jobs/{job.job_id}/events")
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.count("event: job") == 1 and '"final": true' in answer.text


async def test_actions_become_commands(console_client: httpx.AsyncClient, publisher: Any,
                                       make_job: Callable[..., JobView]) -> None:
    job = make_job(owner="alice", phase=Phase.EXECUTING)
    await _sign_in(console_client)
    for action in ("abort", "archive", "delete"):
        answer = await console_client.post(f"/jobs/{job.job_id}/actions", data={"action": action})
        assert answer.status_code == 303
    kinds = [type(m) for m in publisher.published]
    assert kinds == [AbortJob, UpdateJob, DeleteJob]
    assert all(m.owner == "alice" for m in publisher.published)  # type: ignore[attr-defined]
    ended = make_job(owner="alice", phase=Phase.COMPLETED)
    answer = await console_client.post(f"/jobs/{ended.job_id}/actions", data={"action": "abort"})
    assert "already ended" in answer.headers["location"].replace("%20", " ")


async def test_list_events_end_once_no_listed_job_is_under_way(console_client: httpx.AsyncClient,
                                                               make_job: Callable[..., JobView]) -> None:
    done = make_job(owner="alice", phase=Phase.COMPLETED)
    await _sign_in(console_client)
    answer = await console_client.get("/jobs/events", params=[("id", str(done.job_id)), ("id", "not-a-job")])
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text == "event: end\ndata: {}\n\n"


async def test_form_offers_the_planners_facilities_best_first(console_client: httpx.AsyncClient) -> None:
    await _sign_in(console_client)
    page = await console_client.get("/workflows/hello-world")
    options = re.findall(r'<option value="([^"]*)"', page.text)
    assert options[0] == "" and "local" in options[1:]  # "best offer" first: the planner chooses
    assert re.search(r'<option value="local" >[^<]*ends ~', page.text)


@pytest.mark.parametrize("headers", [
    {"origin": "https://evil.test"},
    {"origin": "null"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site", "origin": "http://sub.gateway.test"},
], ids=["another-origin", "null-origin", "cross-site", "same-site"])
async def test_a_post_from_another_site_is_refused_sign_in_included(console_client: httpx.AsyncClient,
                                                                    publisher: Any, headers: dict[str, str]) -> None:
    signin = await console_client.post("/signin", data={"token": "token-a", "next": "/jobs"}, headers=headers)
    assert signin.status_code == 403 and "another site" in signin.text
    assert "set-cookie" not in signin.headers
    await _sign_in(console_client)
    submitted = await console_client.post("/workflows/noop", data={"action": "run"}, headers=headers)
    signed_out = await console_client.post("/signout", headers=headers)
    assert submitted.status_code == 403 and signed_out.status_code == 403
    assert publisher.published == []


async def test_a_post_from_the_console_itself_or_from_no_browser_is_taken(console_client: httpx.AsyncClient,
                                                                          publisher: Any) -> None:
    same = {"origin": BASE, "sec-fetch-site": "same-origin"}
    assert (await console_client.post("/signin", data={"token": "token-a", "next": "/jobs"},
                                      headers=same)).status_code == 303
    assert (await console_client.post("/workflows/noop", data={"action": "run"}, headers=same)).status_code == 303
    assert (await console_client.post("/workflows/noop", data={"action": "run"})).status_code == 303
    assert len(publisher.published) == 2


async def test_every_answer_carries_the_security_headers(console_client: httpx.AsyncClient) -> None:
    await _sign_in(console_client)
    for path in ("/jobs", "/static/console.js", "/uws/jobs", "/docs", "/nowhere"):
        answer = await console_client.get(path, headers={"authorization": "Bearer token-a"})
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "same-origin", path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path
    page = await console_client.get("/jobs")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def _campaign(make_job: Callable[..., JobView], kids: int, phase: Phase = Phase.EXECUTING,
              counts: dict[Phase, int] | None = None, **fields: Any) -> tuple[JobView, list[JobView]]:
    phases = counts or {Phase.COMPLETED: kids}
    parent = make_job(owner="alice", phase=phase, run_id="sweep", parameters={"Parameter2": "2"},
                      children=ChildrenView(total=kids, submitted=kids, phases=phases), **fields)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    made = [make_job(owner="alice", parent_id=parent.job_id, swept={"Parameter1": str(i)}, phase=Phase.COMPLETED,
                     creation_time=start + timedelta(milliseconds=i), attempts=1 + (i == 1))
            for i in range(kids)]
    return parent, made


async def test_a_campaign_is_one_row_with_its_progress(console_client: httpx.AsyncClient,
                                                       make_job: Callable[..., JobView]) -> None:
    parent, kids = _campaign(make_job, 3, counts={Phase.COMPLETED: 37, Phase.ERROR: 2, Phase.EXECUTING: 61})
    await _sign_in(console_client)
    listing = await console_client.get("/jobs")
    row = re.search(rf'<tr data-job-id="{parent.job_id}">.*?</tr>', listing.text, re.S)
    assert row is not None
    assert "37 of 3 completed, 2 failed, 61 running" in row.group(0)
    assert re.search(r'<progress max="3" value="39"', row.group(0))  # ended: completed or failed
    assert "campaign of 3" in row.group(0)
    assert not any(str(kid.job_id) in listing.text for kid in kids)  # the children are on the campaign's page
    assert f"id={parent.job_id}" in listing.text  # kept live: the campaign is under way


async def test_a_campaign_page_shows_its_children_paged(console_client: httpx.AsyncClient,
                                                        make_job: Callable[..., JobView]) -> None:
    parent, kids = _campaign(make_job, CHILDREN_PAGE + 1, phase=Phase.COMPLETED)
    await _sign_in(console_client)
    page = await console_client.get(f"/jobs/{parent.job_id}")
    assert page.status_code == 200
    table = re.search(r'<table id="children".*?</table>', page.text, re.S)
    assert table is not None
    rows = re.findall(r'<tr data-job-id="([^"]+)">(.*?)</tr>', table.group(0), re.S)
    assert len(rows) == CHILDREN_PAGE
    assert rows[0][0] == str(kids[0].job_id) and f'href="/jobs/{kids[0].job_id}"' in rows[0][1]
    assert "<code>1</code>" in rows[1][1] and "<td>2</td>" in rows[1][1]  # swept value, attempts
    assert f"{CHILDREN_PAGE + 1} of {CHILDREN_PAGE + 1} completed" in page.text
    assert "handed to the backend" in page.text and 'href="/jobs/' in page.text
    assert f'/jobs/{parent.job_id}/results/children.csv' in page.text
    assert f'?children={CHILDREN_PAGE}#campaign' in page.text
    second = await console_client.get(f"/jobs/{parent.job_id}", params={"children": CHILDREN_PAGE})
    assert str(kids[-1].job_id) in second.text and str(kids[0].job_id) not in second.text
    assert f'data-events="/jobs/{parent.job_id}/events?children={CHILDREN_PAGE}"' in second.text
    table_csv = await console_client.get(f"/jobs/{parent.job_id}/results/children.csv")
    assert table_csv.status_code == 200 and table_csv.text.count("\n") == CHILDREN_PAGE + 2


async def test_a_child_links_to_its_campaign_and_a_rerun_to_its_original(console_client: httpx.AsyncClient,
                                                                         make_job: Callable[..., JobView]) -> None:
    parent, kids = _campaign(make_job, 2)
    again = make_job(owner="alice", resubmit_of=kids[1].job_id)
    await _sign_in(console_client)
    child = await console_client.get(f"/jobs/{kids[1].job_id}")
    assert f'<a id="campaign-link" href="/jobs/{parent.job_id}">' in child.text
    assert "<code>Parameter1=1</code>" in child.text
    rerun = await console_client.get(f"/jobs/{again.job_id}")
    assert f'<a id="resubmit-of" href="/jobs/{kids[1].job_id}">' in rerun.text


async def test_a_sweep_in_the_form_creates_a_campaign(console_client: httpx.AsyncClient, publisher: Any) -> None:
    await _sign_in(console_client)
    form = await console_client.get("/workflows/hello-world")
    assert 'name="s.Parameter1"' in form.text and "0..90:10" in form.text
    refused = await console_client.post("/workflows/hello-world", data={
        "p.Parameter1": "1", "s.Parameter1": "1..x", "facility": "local", "action": "run"})
    assert refused.status_code == 400 and 'role="alert"' in refused.text and "SWEEP" in refused.text
    assert 'value="1..x"' in refused.text  # the sweep is shown again, to be corrected
    answer = await console_client.post("/workflows/hello-world", data={
        "p.Parameter1": "ignored", "s.Parameter1": "1..3", "s.Parameter2": " ", "facility": "local",
        "action": "run"})
    assert answer.status_code == 303, answer.text
    [created] = publisher.published
    assert isinstance(created, CreateCampaign) and created.run and created.owner == "alice"
    assert answer.headers["location"] == f"/jobs/{created.job_id}"
    assert created.children == [{"Parameter1": v} for v in ("1", "2", "3")]
    assert "Parameter1" not in created.parameters and created.parameters["Parameter2"] == "2"


async def test_run_again_makes_a_new_job_that_names_its_original(console_client: httpx.AsyncClient,
                                                                 publisher: Any,
                                                                 make_job: Callable[..., JobView]) -> None:
    ended = make_job(owner="alice", phase=Phase.ERROR, parameters={"Parameter1": "x"})
    await _sign_in(console_client)
    page = await console_client.get(f"/jobs/{ended.job_id}")
    assert f'action="/jobs/{ended.job_id}/again"' in page.text and "data-confirm" in page.text
    answer = await console_client.post(f"/jobs/{ended.job_id}/again", data={})
    assert answer.status_code == 303
    [created] = publisher.published
    assert isinstance(created, CreateJob) and created.resubmit_of == ended.job_id and created.run
    assert created.parameters["Parameter1"] == "x"
    assert answer.headers["location"].startswith(f"/jobs/{created.job_id}?notice=")
    parent, _ = _campaign(make_job, 2, phase=Phase.COMPLETED)
    refused = await console_client.post(f"/jobs/{parent.job_id}/again", data={"scope": "unfinished"})
    assert refused.headers["location"].startswith(f"/jobs/{parent.job_id}?notice=Every%20child")
    every = await console_client.post(f"/jobs/{parent.job_id}/again", data={"scope": "all"})
    campaign = publisher.published[-1]
    assert isinstance(campaign, CreateCampaign) and len(campaign.children) == 2
    assert every.headers["location"].startswith(f"/jobs/{campaign.job_id}?")


class _MovingCampaign:
    """Enough of the job service for the live list: a campaign whose children move, then end."""

    max_wait = 60

    def __init__(self, views: list[JobView]) -> None:
        self._views = views
        self.reads = 0

    async def view(self, job_id: Any, owner: str | None) -> JobView:
        self.reads += 1
        return self._views[min(self.reads - 1, len(self._views) - 1)]

    async def get(self, job_id: Any, wait: Any, owner: str | None) -> JobView:
        return await self.view(job_id, owner)


async def test_a_campaign_row_is_kept_live_while_its_phase_stays(make_job: Callable[..., JobView]) -> None:
    counts = [{Phase.EXECUTING: 3}, {Phase.EXECUTING: 3}, {Phase.COMPLETED: 1, Phase.EXECUTING: 2},
              {Phase.COMPLETED: 3}]
    views = [make_job(owner="alice", phase=Phase.COMPLETED if i == 3 else Phase.EXECUTING,
                      children=ChildrenView(total=3, submitted=3, phases=c)) for i, c in enumerate(counts)]
    jobs = _MovingCampaign(views)
    events = [e async for e in list_events(jobs, [views[0].job_id], "alice",  # type: ignore[arg-type]
                                           progress=lambda v: progress(v.children).text, refresh=0.001)]
    sent = [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: phase")]
    assert [(s["phase"], s["progress"]) for s in sent] == [
        ("EXECUTING", "1 of 3 completed, 2 running"), ("COMPLETED", "3 of 3 completed")]
    assert events[-1].startswith("event: end") and jobs.reads == 4  # one read per period, none after the end
