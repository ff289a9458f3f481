"""The gateway fuzzed from its own OpenAPI document, against the running stack: every operation it describes, with
requests its schema allows and requests it does not (schemathesis' positive and negative generation), as a
signed-in user and anonymously, on job ids that exist and ids that do not. No answer may be a 5xx, and every
request is answered (within 20 s). The count of requests per operation and the statuses seen go to
test-artifacts/e2e/fuzz-report.md.

Bounded to keep the suite short: EXAMPLES per operation and mode; /uws/sync waits at most 2 s; job ids that exist
are of ended jobs, so that a WAIT on them returns at once."""

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from esap_runtime.stack import Stack

from .uws_client import create_job, wait_for_phase

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 12
STACK_ENV = {"GATEWAY_RATE_LIMIT_PER_MINUTE": "0", "GATEWAY_SYNC_TIMEOUT_SECONDS": "2"}
ALICE = {"Authorization": "Bearer token-a"}


def fuzz(document: dict[str, Any], base_url: str, job_ids: list[str]) -> tuple[dict[str, Counter[int]], list[str]]:
    """Every operation, each mode, with and without credentials and with real job ids: statuses per operation,
    and the failures (5xx, no answer)."""
    schema = schemathesis.openapi.from_dict(document)
    seen: dict[str, Counter[int]] = defaultdict(Counter)
    failures: list[str] = []
    session = requests.Session()

    def examine(operation: Any, mode: GenerationMode, path_parameters: dict[str, str] | None,
                headers: dict[str, str]) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        def call(case: Any) -> None:
            label = f"{case.method} {case.formatted_path}"
            try:
                response = case.call(base_url=base_url, session=session, headers={**(case.headers or {}), **headers},
                                     timeout=20, allow_redirects=False)
            except requests.RequestException as exc:
                failures.append(f"{label} ({mode.value}): no answer ({type(exc).__name__})")
                return
            seen[operation.label][response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{label} ({mode.value}): {response.status_code} {response.text[:200]!r}")

        with contextlib.suppress(Unsatisfiable):  # no request of this mode exists (a negative one without inputs)
            call()

    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE" or op.path == "/uws/jobs/{job_id}")  # they end jobs
    for operation in operations:
        real_ids = [{"job_id": job_id} for job_id in job_ids] if "{job_id}" in operation.path else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in [None, *real_ids]:
                for headers in (ALICE, {}):
                    examine(operation, mode, path_parameters, headers)
    return seen, failures


def report(seen: dict[str, Counter[int]], failures: list[str]) -> str:
    lines = ["# The gateway fuzzed from its OpenAPI document", "",
             f"{sum(sum(c.values()) for c in seen.values())} requests, {len(failures)} failures.", "",
             "| operation | requests | statuses |", "| --- | --- | --- |"]
    for label, statuses in sorted(seen.items()):
        lines.append(f"| {label} | {sum(statuses.values())} | {dict(sorted(statuses.items()))} |")
    return "\n".join(lines + [""] + [f"- {failure}" for failure in failures]) + "\n"


async def test_no_request_gets_a_server_error_or_goes_unanswered(stack: Stack, client: httpx.AsyncClient) -> None:
    client.headers.update(ALICE)
    ended = [await create_job(client, WORKFLOW="noop", PHASE="RUN") for _ in range(2)]
    for job_id in ended:
        await wait_for_phase(client, job_id, {"COMPLETED"})
    document = (await client.get("/openapi.json")).json()

    seen, failures = await asyncio.to_thread(fuzz, document, stack.gateway_url, ended)

    artifacts = ROOT / "test-artifacts" / "e2e"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "fuzz-report.md").write_text(report(seen, failures))
    (artifacts / "openapi.json").write_text(json.dumps(document, indent=1))
    operations = {op for op in seen}
    assert len(operations) >= 20, f"only {len(operations)} operations were fuzzed: {sorted(operations)}"
    assert sum(sum(c.values()) for c in seen.values()) >= 1000
    assert not failures, "\n".join(failures[:30])
