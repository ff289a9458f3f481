"""Status derivation and results listing of the local executor: pure functions over what a directory holds."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from esap_backends.local.layout import JobState, KillIntent
from esap_backends.local.status import (
    ERROR_LOST,
    JobSnapshot,
    derive_status,
    final_state,
    list_results,
    parse_exit_code,
)
from esap_messages import DiracStatus
from esap_messages.model import OutputFile

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
JOB_DIR = Path("/work/jobs/j1")
OUTPUTS = (OutputFile(name="helloworld.json", mime_type="application/json"),)


def _state(status: DiracStatus = DiracStatus.RUNNING, **changes: object) -> JobState:
    base = JobState(job_id="j1", status=status, created_at=T0, started_at=T0, pid=4242, pid_start_ticks=99,
                    outputs=OUTPUTS)
    return base.model_copy(update=changes)


def _snapshot(state: JobState, **changes: object) -> JobSnapshot:
    fields: dict[str, object] = {"job_dir": JOB_DIR, "state": state, "read_at": T0 + timedelta(seconds=60)}
    fields.update(changes)
    return JobSnapshot(**fields)  # type: ignore[arg-type]


def test_exit_code_zero_is_done_with_results() -> None:
    written = T0 + timedelta(seconds=3)
    status = derive_status(_snapshot(_state(), exit_code_text="0", exit_code_written_at=written,
                                     file_sizes={"stdout.txt": 10, "stderr.txt": 0, "helloworld.json": 5}))
    assert status.status is DiracStatus.DONE
    assert status.exit_code == 0
    assert status.ended_at == written
    assert status.started_at == T0
    assert [(r.name, r.size, r.mime_type) for r in status.results] == [
        ("stdout", 10, "text/plain"), ("stderr", 0, "text/plain"), ("helloworld.json", 5, "application/json")]


def test_a_job_never_ends_before_it_started_though_its_exit_file_s_time_is_coarse() -> None:
    status = derive_status(_snapshot(_state(), exit_code_text="0", exit_code_written_at=T0 - timedelta(milliseconds=3)))
    assert status.status is DiracStatus.DONE and status.ended_at == status.started_at == T0


def test_non_zero_exit_is_failed_with_the_last_stderr_line() -> None:
    status = derive_status(_snapshot(_state(), exit_code_text="3", stderr_tail="first\nTraceback\nBoom!\n\n"))
    assert status.status is DiracStatus.FAILED
    assert status.error == "exit code 3: Boom!"
    assert status.exit_code == 3


def test_a_command_the_launcher_could_not_start_is_told_without_the_host_s_paths() -> None:
    for code, line in ((126, "bash: line 1: /usr/lib/python3.11/venv/bin/python: Argument list too long"),
                       (127, "/bin/bash: line 2: /srv/esap/workflows/run.sh: No such file or directory")):
        error = derive_status(_snapshot(_state(), exit_code_text=str(code), stderr_tail=f"{line}\n")).error
        assert error is not None and error.startswith("the workflow's command could not be started: ")
        assert "/" not in error, error
    own = derive_status(_snapshot(_state(), exit_code_text="127", stderr_tail="my tool: not found\n")).error
    assert own == "exit code 127: my tool: not found"


def test_non_zero_exit_without_stderr_says_the_code_only() -> None:
    assert derive_status(_snapshot(_state(), exit_code_text="127")).error == "exit code 127"


def test_running_with_a_live_process_stays_running() -> None:
    status = derive_status(_snapshot(_state(), process_alive=True))
    assert status.status is DiracStatus.RUNNING
    assert status.results == ()
    assert not status.is_final


def test_running_with_a_dead_process_and_no_exit_code_failed() -> None:
    status = derive_status(_snapshot(_state(), process_alive=False))
    assert status.status is DiracStatus.FAILED
    assert status.error == ERROR_LOST


def test_an_exit_code_still_being_written_is_no_exit_code() -> None:
    assert parse_exit_code("") is None
    assert derive_status(_snapshot(_state(), exit_code_text="", process_alive=True)).status is DiracStatus.RUNNING


def test_kill_intent_wins_over_the_exit_code_once_the_process_is_gone() -> None:
    intent = KillIntent(minor_status="aborted by its owner", requested_at=T0)
    state = _state(kill=intent)
    assert derive_status(_snapshot(state, process_alive=True)).status is DiracStatus.RUNNING
    assert derive_status(_snapshot(state, process_alive=True)).minor_status == "Kill requested"
    killed = derive_status(_snapshot(state, exit_code_text="143"))
    assert (killed.status, killed.minor_status) == (DiracStatus.KILLED, "aborted by its owner")
    assert derive_status(_snapshot(state, process_alive=False)).status is DiracStatus.KILLED


def test_a_final_state_is_reported_as_written() -> None:
    state = _state(DiracStatus.KILLED, minor_status="Execution duration exceeded",
                   error="Execution duration of 1 s exceeded", ended_at=T0)
    status = derive_status(_snapshot(state, file_sizes={"stdout.txt": 1}))
    assert status.status is DiracStatus.KILLED
    assert status.error == "Execution duration of 1 s exceeded"
    assert [r.name for r in status.results] == ["stdout"]


def test_received_and_waiting_are_reported_as_they_are() -> None:
    for state in (DiracStatus.RECEIVED, DiracStatus.WAITING):
        assert derive_status(_snapshot(_state(state, pid=None))).status is state


def test_final_state_keeps_what_the_status_says() -> None:
    status = derive_status(_snapshot(_state(), exit_code_text="0", exit_code_written_at=T0))
    state = final_state(_state(), status)
    assert (state.status, state.exit_code, state.ended_at) == (DiracStatus.DONE, 0, T0)


def test_results_list_present_files_with_file_locations(tmp_path: Path) -> None:
    (tmp_path / "stdout.txt").write_text("hello\n")
    results = list_results(tmp_path, {"stdout.txt": 6}, OUTPUTS)
    assert len(results) == 1
    assert results[0].location == (tmp_path / "stdout.txt").as_uri()
    assert results[0].location.startswith("file:///")


def test_an_output_named_like_a_standard_stream_is_listed_once() -> None:
    outputs = (OutputFile(name="stdout", mime_type="text/csv"),)
    results = list_results(JOB_DIR, {"stdout.txt": 1, "stdout": 2}, outputs)
    assert [r.name for r in results] == ["stdout"]


def test_a_signal_esap_batch_did_not_send_is_told_as_such() -> None:
    status = derive_status(_snapshot(_state(), exit_code_text="137"))
    assert status.status is DiracStatus.FAILED and status.exit_code == 137
    assert status.minor_status == "Killed by signal 9"
    assert status.error == "killed by signal 9 (SIGKILL), which esap-batch did not send"


def test_a_signal_after_our_own_kill_is_killed_not_a_failure() -> None:
    intent = KillIntent(minor_status="aborted by its owner", requested_at=T0)
    status = derive_status(_snapshot(_state(kill=intent), exit_code_text="137"))
    assert status.status is DiracStatus.KILLED and status.minor_status == "aborted by its owner"
