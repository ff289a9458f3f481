"""The console's pages over fakes of the gateway's ports: sign-in (token form and OIDC with PKCE through a fake
token exchange), search, submission with the server's checks, the job list and page, live events, results and
actions. No I/O beyond the in-memory app."""

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from esap_gateway.config import Settings
from esap_gateway.console.oidc import SignInAttempt, SignInError
from esap_gateway.console.resources import ConsoleResources
from esap_gateway.console.settings import ConsoleSettings
from esap_gateway.main import create_app
from esap_messages import AbortJob, CreateJob, DeleteJob, Phase, UpdateJob
from esap_messages.api import FacilityView, JobView, ParameterView, ResultView, WorkflowView

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
