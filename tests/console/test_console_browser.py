"""The console in a real browser against the whole stack: sign in, search, submit Hello World with a changed
parameter and watch it reach COMPLETED without reloading, open its result, abort a sleeping job, archive a job;
sweep a parameter in the form and follow the campaign's progress and children live, see a campaign as one row of
the job list with its progress bar, and run a job and a campaign again.
Each test leaves a screenshot in test-artifacts/console/. The tests run in order and share one browser."""

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e

CHANGED = "changed-in-browser"
state: dict[str, str] = {}


async def _page(context: BrowserContext) -> Page:
    return context.pages[0] if context.pages else await context.new_page()


async def test_sign_in_with_a_development_token(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs")
    await expect(page).to_have_url(f"{stack.gateway_url}/jobs")  # anonymous use is allowed in development
    await page.goto(f"{stack.gateway_url}/signin?next=/")
    await page.get_by_label("Access token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not accepted")
    await page.get_by_label("Access token").fill("token-a")
    await page.screenshot(path=shots / "01-signin.png", full_page=True)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{stack.gateway_url}/")
    cookie = next(c for c in await context.cookies() if c["name"] == "esap_console_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


async def test_search_as_you_type(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/")
    workflows = page.locator("article.workflow")
    await expect(workflows.filter(has_text="Sleep")).to_have_count(1)
    await page.get_by_label("Search by name").press_sequentially("hello", delay=30)
    await expect(workflows).to_have_count(1)
    await expect(workflows.first).to_contain_text("Hello World")
    await expect(workflows.first).to_contain_text("example")
    await expect(page).to_have_url(f"{stack.gateway_url}/?q=hello")
    await page.get_by_label("Search by name").fill("")
    await page.get_by_label("Search by name").press_sequentially("local", delay=30)
    await expect(page.locator("article.facility").first).to_contain_text("Runtime engines")
    await page.screenshot(path=shots / "02-search.png", full_page=True)


async def test_submit_hello_world_and_watch_it_complete(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/?q=hello")
    await page.get_by_role("link", name="Hello World").click()
    value = page.get_by_label("Parameter1", exact=True)  # not its "Sweep Parameter1 over" box
    await expect(value).to_have_value("1")  # the default, filled in
    await value.fill(CHANGED)
    await expect(page.get_by_label("Facility")).to_contain_text("ends ~")  # the planner's offers
    await page.get_by_label("Facility").select_option("local")
    await page.get_by_label("Run ID").fill("browser-hello")
    await page.screenshot(path=shots / "03-submit.png", full_page=True)
    await page.get_by_role("button", name="RUN", exact=True).click()
    await expect(page).to_have_url(re.compile(rf"{re.escape(stack.gateway_url)}/jobs/[0-9a-f-]{{36}}$"))
    state["hello"] = page.url.rsplit("/", 1)[-1]
    await page.evaluate("window.__notReloaded = true")
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "COMPLETED", timeout=60_000)
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    await expect(page.locator("#timeline li")).not_to_have_count(0)
    await page.screenshot(path=shots / "04-job-completed.png", full_page=True)


async def test_open_the_result(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs/{state['hello']}")
    preview = page.locator("pre.preview").first
    await expect(preview).to_contain_text(CHANGED)
    link = page.locator("#results a").first
    href = await link.get_attribute("href")
    assert href is not None
    response = await page.request.get(f"{stack.gateway_url}{href}")  # the browser's own cookies
    assert response.ok
    assert json.loads(await response.text())["Parameter1"] == CHANGED
    async with httpx.AsyncClient() as anonymous:  # without the cookie, alice's result is not served
        assert (await anonymous.get(f"{stack.gateway_url}{href}")).status_code == 403
    await page.screenshot(path=shots / "05-result.png", full_page=True)


async def test_job_list_phases_change_without_reloading(stack: Stack, context: BrowserContext,
                                                        shots: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers={"Authorization": "Bearer token-a"}) as uws:
        created = await uws.post("/uws/jobs", data={"WORKFLOW": "sleep", "seconds": "5", "PHASE": "RUN",
                                                    "RUNID": "browser-short"})
        assert created.status_code == 303, created.text
        stored = await uws.get(created.headers["location"])  # a read waits for the catalog to hold the job
        assert stored.status_code == 200, stored.text
    job_id = created.headers["location"].rsplit("/", 1)[-1]
    state["short"] = job_id
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs")
    badge = page.locator(f"tr[data-job-id='{job_id}'] .phase")
    assert await badge.get_attribute("data-phase") in ("QUEUED", "EXECUTING")
    await page.evaluate("window.__notReloaded = true")
    await expect(badge).to_have_attribute("data-phase", "COMPLETED", timeout=60_000)
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    await page.screenshot(path=shots / "06-list-live.png", full_page=True)


async def test_abort_a_sleeping_job(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/workflows/sleep")
    await page.get_by_label("seconds", exact=False).first.fill("120")
    await page.get_by_label("Run ID").fill("browser-sleep")
    await page.get_by_role("button", name="RUN", exact=True).click()
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "EXECUTING", timeout=60_000)
    await page.get_by_role("button", name="ABORT").click()
    await expect(page.locator(".notice")).to_contain_text("ABORT requested")
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "ABORTED", timeout=60_000)
    await expect(page.get_by_role("button", name="ABORT")).to_have_count(0)  # the actions follow the phase
    await page.screenshot(path=shots / "07-aborted.png", full_page=True)
    state["sleep"] = page.url.split("?")[0].rsplit("/", 1)[-1]


async def test_delete_a_job_after_confirming(stack: Stack, context: BrowserContext) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs/{state['sleep']}")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="DELETE").click()
    await expect(page).to_have_url(f"{stack.gateway_url}/jobs")
    deadline = time.monotonic() + 30
    while await page.locator(f"tr[data-job-id='{state['sleep']}']").count() and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        await page.reload()
    await expect(page.locator(f"tr[data-job-id='{state['sleep']}']")).to_have_count(0)


async def test_archive_a_job_from_the_list(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs")
    row = page.locator(f"tr[data-job-id='{state['hello']}']")
    await expect(row).to_contain_text("COMPLETED")
    await expect(row.locator("td").nth(5)).to_have_text("6")  # parameters
    await expect(row.locator("td").nth(6)).not_to_have_text("0")  # results
    await page.screenshot(path=shots / "08-jobs.png", full_page=True)
    await row.get_by_role("button", name="ARCHIVE").click()
    await expect(page.locator(".notice")).to_contain_text("ARCHIVE requested")
    archived = page.locator(f"tr[data-job-id='{state['hello']}']")
    deadline = time.monotonic() + 30
    while True:  # the catalog's sweeper archives it at its next pass; the list is read again until then
        await page.goto(f"{stack.gateway_url}/jobs?phase=ARCHIVED")
        if await archived.count() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await expect(archived).to_contain_text("ARCHIVED")
    await page.goto(f"{stack.gateway_url}/jobs/{state['hello']}")
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "ARCHIVED")
    await expect(page.locator("#results")).to_contain_text("No results")
    await page.screenshot(path=shots / "09-archived.png", full_page=True)


async def test_a_sweep_in_the_form_makes_a_campaign_followed_live(stack: Stack, context: BrowserContext,
                                                                   shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/workflows/sleep")
    await expect(page.locator("#sweep-help")).to_contain_text("0..90:10")
    await page.get_by_label("Sweep seconds over").fill("1..5")
    await page.get_by_label("Facility").select_option("local")
    await page.get_by_label("Run ID").fill("browser-sweep")
    await page.screenshot(path=shots / "11-sweep-form.png", full_page=True)
    await page.get_by_role("button", name="RUN", exact=True).click()
    await expect(page).to_have_url(re.compile(rf"{re.escape(stack.gateway_url)}/jobs/[0-9a-f-]{{36}}$"))
    state["campaign"] = page.url.rsplit("/", 1)[-1]
    await page.evaluate("window.__notReloaded = true")
    campaign = page.locator("#campaign")
    await expect(campaign.get_by_role("heading", name="Campaign of 5 children")).to_be_visible()
    await expect(page.locator("#children tbody tr")).to_have_count(5)
    await expect(campaign.locator(".progress-text")).to_contain_text("of 5 completed")
    await page.screenshot(path=shots / "12-campaign-running.png", full_page=True)
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "COMPLETED", timeout=90_000)
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    await expect(campaign.locator(".progress-text")).to_have_text("5 of 5 completed")
    await expect(campaign.locator("progress").first).to_have_attribute("value", "5")
    await expect(page.locator("#submitted")).to_contain_text("5 of 5 handed to the backend")
    await expect(page.locator("#children .phase[data-phase='COMPLETED']")).to_have_count(5)  # the table too
    swept = [await cell.inner_text() for cell in await page.locator("#children tbody tr td:nth-child(2)").all()]
    assert swept == ["1", "2", "3", "4", "5"]
    await page.screenshot(path=shots / "13-campaign-completed.png", full_page=True)
    await page.locator("#children tbody tr").first.get_by_role("link").click()
    await expect(page.locator("#swept")).to_have_text("seconds=1")
    await expect(page.locator("#campaign-link")).to_have_attribute("href", f"/jobs/{state['campaign']}")
    await page.screenshot(path=shots / "14-child.png", full_page=True)


async def test_a_campaign_is_one_row_whose_progress_moves(stack: Stack, context: BrowserContext,
                                                          shots: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers={"Authorization": "Bearer token-a"}) as uws:
        created = await uws.post("/uws/jobs", data={"WORKFLOW": "sleep", "SWEEP": "seconds=3,4,5,6",
                                                    "FACILITY": "local", "PHASE": "RUN", "RUNID": "browser-row"})
        assert created.status_code == 303, created.text
        assert (await uws.get(created.headers["location"])).status_code == 200
    campaign = created.headers["location"].rsplit("/", 1)[-1]
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs")
    row = page.locator(f"tr[data-job-id='{campaign}']")
    await expect(row).to_contain_text("campaign of 4")
    await expect(row.locator("progress")).to_have_attribute("max", "4")
    await page.evaluate("window.__notReloaded = true")
    await expect(row.locator(".progress-text")).to_contain_text("running", timeout=60_000)
    await page.screenshot(path=shots / "15-list-campaign-running.png", full_page=True)
    await expect(row.locator(".progress-text")).to_have_text("4 of 4 completed", timeout=90_000)
    await expect(row.locator(".phase").first).to_have_attribute("data-phase", "COMPLETED")
    assert await page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers={"Authorization": "Bearer token-a"}) as uws:
        listed = await uws.get("/uws/jobs", params={"PARENT": campaign}, headers={"accept": "application/json"})
    children = [job["jobId"] for job in listed.json()["jobs"]]
    assert len(children) == 4
    for child in children:  # one row for the whole campaign
        await expect(page.locator(f"tr[data-job-id='{child}']")).to_have_count(0)
    await page.screenshot(path=shots / "16-list-campaign-completed.png", full_page=True)


async def test_run_again_a_job_and_a_campaign(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/jobs/{state['short']}")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Run again").click()
    await expect(page.locator("#resubmit-of")).to_have_attribute("href", f"/jobs/{state['short']}")
    await expect(page.locator(".notice")).to_contain_text("again")
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "COMPLETED", timeout=60_000)
    await page.screenshot(path=shots / "17-run-again.png", full_page=True)
    await page.goto(f"{stack.gateway_url}/jobs/{state['campaign']}")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Run again (unfinished children)").click()
    await expect(page.locator(".notice")).to_contain_text("Every child of this campaign completed")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Run all children again").click()
    await expect(page.locator("#resubmit-of")).to_have_attribute("href", f"/jobs/{state['campaign']}")
    await expect(page.locator("#children tbody tr")).to_have_count(5)
    await page.screenshot(path=shots / "18-campaign-again.png", full_page=True)


async def test_keyboard_and_small_screens(stack: Stack, context: BrowserContext, shots: Path) -> None:
    page = await _page(context)
    await page.goto(f"{stack.gateway_url}/")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")  # to the main content, then into the search box
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "q"
    await page.keyboard.type("sleep")
    await expect(page.locator("article.workflow")).to_have_count(1)
    await page.keyboard.press("Tab")  # the first result's link, then open it with Enter
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{stack.gateway_url}/workflows/sleep")
    unlabelled = await page.evaluate("""[...document.querySelectorAll('input:not([type=hidden]), select')]
        .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)""")
    assert unlabelled == []
    await page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/jobs", "/workflows/hello-world", f"/jobs/{state['campaign']}"):
        await page.goto(f"{stack.gateway_url}{path}")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    await page.screenshot(path=shots / "10-small-screen.png", full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
