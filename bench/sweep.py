"""Campaign benchmark: one parameter sweep of no-op jobs on the local executor, on a stack of its own; then one on
a development DiracX.

POSTs one request with ``SWEEP=index=1..N`` (``--children``, default 10,000) of the ``noop`` workflow, then prints:
- the time to the 303 (the gateway checked every child and the catalog made them all in one transaction);
- the time until every child is listed under ``GET /uws/jobs?PARENT=<id>`` (paged as a client would);
- the time until the campaign is COMPLETED (every child run by the local executor and observed), and the rate;
- the submission progress seen on the way (children handed to the backend, from the campaign's jobInfo).

Then (``--diracx-children``, default 2,000; 0 skips it) a development DiracX of the bench's own, a stack whose
ctadirac facility submits to it, and one POST of ``SWEEP=Parameter1=1..N`` of Hello World on ctadirac. No pilot
runs the jobs: the figure is the submission rate, children handed to DiracX per second (the campaign's jobInfo
``submitted``, read every 0.5 s until all are), and the submission calls the submitter made (its
``submitter_backend_batch_jobs`` histogram). Figures are printed for reading and comparing; nothing is asserted.
"""

import argparse
import asyncio
import re
import sys
import time
from contextlib import AsyncExitStack

import aiohttp
from common import bench_parser, own_diracx, own_stack, stack_arguments
from lxml import etree

from esap_runtime.stack import Stack

JOBINFO = "{urn:esap-batch:jobinfo:v1}"
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
FINAL = {"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"}


async def listed_children(http: aiohttp.ClientSession, base: str, campaign: str, expected: int) -> int:
    """Every child id of the campaign, paged through ``PARENT``, until all are there; how many were listed."""
    seen: set[str] = set()
    while len(seen) < expected:
        seen.clear()
        url: str | None = f"{base}/uws/jobs?PARENT={campaign}&LAST=1000"
        while url is not None:
            async with http.get(url, headers={"accept": "application/json"}) as response:
                page = await response.json()
            seen.update(job["jobId"] for job in page["jobs"])
            url = page.get("next")
    return len(seen)


async def campaign_state(http: aiohttp.ClientSession, base: str, campaign: str, wait: int, phase: str
                         ) -> tuple[str, int]:
    """The campaign's phase (after a WAIT on ``phase``) and how many children were handed to the backend."""
    async with http.get(f"{base}/uws/jobs/{campaign}", params={"WAIT": str(wait), "PHASE": phase}) as response:
        root = etree.fromstring(await response.read())
    children = root.find(f"{UWS}jobInfo/{JOBINFO}children")
    return root.findtext(f"{UWS}phase") or "", int(children.get("submitted")) if children is not None else 0


async def main(args: argparse.Namespace) -> None:
    out = sys.stdout.write
    async with AsyncExitStack() as cleanup:
        stack, _ = await cleanup.enter_async_context(own_stack(args, prefix="s"))
        http = await cleanup.enter_async_context(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)))
        base = stack.gateway_url
        form = {"WORKFLOW": "noop", "FACILITY": "local", "SWEEP": f"index=1..{args.children}", "PHASE": "RUN"}
        start = time.perf_counter()
        async with http.post(f"{base}/uws/jobs", data=form, allow_redirects=False) as response:
            if response.status != 303:
                out(f"refused: {response.status} {await response.text()}\n")
                return
            campaign = response.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        accepted = time.perf_counter() - start
        count = await listed_children(http, base, campaign, args.children)
        all_listed = time.perf_counter() - start
        phase, progress = "QUEUED", []
        while phase not in FINAL and time.perf_counter() - start < args.timeout:
            phase, submitted = await campaign_state(http, base, campaign, 5, phase)
            progress.append((time.perf_counter() - start, submitted))
        ended = time.perf_counter() - start
    out(f"sweep of {args.children} no-op children on local (one POST, SWEEP=index=1..{args.children})\n")
    out(f"  303 after                  {accepted * 1000:8.0f} ms\n")
    out(f"  all {count} children listed  {all_listed:8.2f} s after the POST\n")
    out(f"  campaign {phase:<10}        {ended:8.2f} s after the POST  "
        f"({args.children / max(ended - accepted, 1e-9):.0f} children/s from the 303)\n")
    out("  handed to the backend: " + ", ".join(f"{n} at {t:.1f} s" for t, n in progress[:: max(1, len(progress) // 8)])
        + "\n")


async def post_sweep(http: aiohttp.ClientSession, base: str, form: dict[str, str]) -> str | None:
    """The campaign's id, or None (said on stdout) if the gateway refused it."""
    async with http.post(f"{base}/uws/jobs", data=form, allow_redirects=False) as response:
        if response.status != 303:
            sys.stdout.write(f"refused: {response.status} {await response.text()}\n")
            return None
        return str(response.headers["location"]).rstrip("/").rsplit("/", 1)[-1]


async def submission_calls(http: aiohttp.ClientSession, stack: Stack) -> tuple[int, int]:
    """The submitter's DiracX submission calls so far and the jobs they carried."""
    async with http.get(f"{stack.services['submitter'].url}/metrics") as response:
        text = await response.text()
    found = dict(re.findall(r'^submitter_backend_batch_jobs_(count|sum)\{backend="diracx"\} (\S+)$', text,
                            re.MULTILINE))
    return int(float(found.get("count", 0))), int(float(found.get("sum", 0)))


async def diracx_part(args: argparse.Namespace) -> None:
    """A sweep on ctadirac, against a development DiracX with no pilot: how fast the children reach DiracX."""
    out, children = sys.stdout.write, args.diracx_children
    with own_diracx() as server:
        env = dict(server.exports())
        if args.submit_in_flight:
            env["ESAP_DIRACX_SUBMIT_IN_FLIGHT"] = str(args.submit_in_flight)
        if args.submitter_workers:
            env["SUBMITTER_WORKERS"] = str(args.submitter_workers)
        async with AsyncExitStack() as cleanup:
            stack, _ = await cleanup.enter_async_context(own_stack(args, prefix="d", env=env))
            http = await cleanup.enter_async_context(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)))
            base = stack.gateway_url
            form = {"WORKFLOW": "hello-world", "FACILITY": "ctadirac", "SWEEP": f"Parameter1=1..{children}",
                    "PHASE": "RUN"}
            start = time.perf_counter()
            campaign = await post_sweep(http, base, form)
            if campaign is None:
                return
            accepted, submitted, first = time.perf_counter() - start, 0, None
            while submitted < children and time.perf_counter() - start < args.timeout:
                await asyncio.sleep(0.5)
                _, submitted = await campaign_state(http, base, campaign, 0, "QUEUED")
                if submitted and first is None:
                    first = time.perf_counter() - start
            done = time.perf_counter() - start
            calls, jobs = await submission_calls(http, stack)
    out(f"sweep of {children} Hello World children on ctadirac (a development DiracX, no pilot)\n")
    out(f"  303 after                  {accepted * 1000:8.0f} ms\n")
    out(f"  {submitted} handed to DiracX    {done:8.2f} s after the POST (first seen at {first or 0:.1f} s)  "
        f"({submitted / max(done - accepted, 1e-9):.0f} children/s from the 303)\n")
    out(f"  submission calls           {calls:8d}  ({jobs / max(calls, 1):.1f} jobs a call)\n")


def parse() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--diracx-children", type=int, default=2000,
                        help="children of the sweep on a development DiracX (0: skip that part)")
    parser.add_argument("--submit-in-flight", type=int, default=0,
                        help="ESAP_DIRACX_SUBMIT_IN_FLIGHT for that part (0: the setting's default)")
    parser.add_argument("--submitter-workers", type=int, default=0,
                        help="SUBMITTER_WORKERS for that part (0: the setting's default)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the campaign to end")
    stack_arguments(parser)
    return parser.parse_args()


async def both(args: argparse.Namespace) -> None:
    if args.children > 0:
        await main(args)
    if args.diracx_children > 0:
        await diracx_part(args)


if __name__ == "__main__":
    asyncio.run(both(parse()))
