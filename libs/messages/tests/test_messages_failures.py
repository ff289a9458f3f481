"""The failure classification table (esap_messages.failures.classify), row by row, and its copy in
docs/ARCHITECTURE.md."""

from pathlib import Path

import pytest

from esap_messages import DiracStatus, FailureClass
from esap_messages.failures import TABLE, classify

REPO = Path(__file__).resolve().parents[3]

T, F, U, TO = FailureClass.TRANSIENT, FailureClass.FATAL, FailureClass.USAGE, FailureClass.TIMEOUT


@pytest.mark.parametrize(("status", "minor", "code", "error", "ours", "expected"), [
    # transient: the node or site lost the job
    (DiracStatus.FAILED, "Killed by signal 9", 137, "killed by signal 9 (SIGKILL), which esap-batch did not send",
     False, T),
    (DiracStatus.FAILED, "Process lost", None, "the process ended without an exit status", False, T),
    (DiracStatus.STALLED, "Watchdog identified this job as stalled", None, None, False, T),
    (DiracStatus.FAILED, "Job stalled: pilot not running", None, None, False, T),
    (DiracStatus.FAILED, "Pilot not running", None, None, False, T),
    (DiracStatus.FAILED, "Input Data Not Available", None, None, False, T),
    (DiracStatus.FAILED, "Uploading Job OutputSandbox", None, "Failed to upload output sandbox", False, T),
    (None, "", None, "sandbox upload failed: connection reset", False, T),
    (DiracStatus.FAILED, "Application Finished With Errors", 143, None, False, T),
    # a kill esap-batch asked for is never transient
    (DiracStatus.KILLED, "Killed by signal 9", 137, None, True, F),
    (DiracStatus.KILLED, "aborted by its owner", None, None, True, F),
    # fatal: the payload failed, or DIRAC refused the job
    (DiracStatus.FAILED, "Application Finished With Errors", 1, "exit code 1: boom", False, F),
    (None, "", None, "DiracX refused the JDL: 400 Bad Request", False, F),
    (DiracStatus.FAILED, "", 2, "the workflow's command could not be started: No such file or directory", False, F),
    # usage: bad parameters
    (None, "", None, "the command names parameter {x}, which the job does not have", False, U),
    (None, "", None, "unknown workflow 'nope'", False, U),
    # timeout: the execution duration was exceeded (our own kill, and DIRAC's CPU limit)
    (DiracStatus.KILLED, "Execution duration exceeded", None, "Execution duration of 10 s exceeded", True, TO),
    (DiracStatus.FAILED, "Job has reached the CPU limit of the queue", None, None, False, TO),
])
def test_classify(status: DiracStatus | None, minor: str, code: int | None, error: str | None, ours: bool,
                  expected: FailureClass) -> None:
    assert classify(status, minor, code, error, killed_by_us=ours) is expected


def test_the_documented_table_is_the_code_s() -> None:
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Failures and retries", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    documented = [(rule.strip(), cls.strip().strip("`")) for rule, cls in rows[1:]]
    assert documented == [(rule, cls.value) for rule, cls in TABLE]
