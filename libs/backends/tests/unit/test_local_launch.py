"""Templating, environment and workflow-file checks of the local executor: pure functions."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from esap_backends import PermanentBackendError
from esap_backends.local.launch import (
    check_workflow_file,
    env_name,
    job_environment,
    launcher_environment,
    plan_launch,
    render_command,
)
from esap_backends.local.launcher import launch_spec
from esap_messages import SubmitJob, WorkflowRun, new_id


def test_placeholders_become_values_inside_one_argv_item() -> None:
    argv = render_command(["echo", "{A}", "x={B}-{A}", "{{literal"], {"A": "1", "B": "two"})
    assert argv == ("echo", "1", "x=two-1", "{{literal")


def test_values_arrive_unchanged_and_are_not_rescanned() -> None:
    value = """a "quoted" 'b' {B} c=d; $(rm -rf /) `x`"""
    assert render_command(["run", "{A}"], {"A": value, "B": "never"}) == ("run", value)


def test_a_name_may_differ_in_case() -> None:
    assert render_command(["{seconds}"], {"SECONDS": "5"}) == ("5",)


def test_an_unknown_name_is_a_permanent_error() -> None:
    with pytest.raises(PermanentBackendError, match="Missing"):
        render_command(["{Missing}"], {"A": "1"})


def test_text_that_is_not_a_placeholder_is_kept() -> None:
    assert render_command(["{1abc}", "{a-b}", "{}"], {}) == ("{1abc}", "{a-b}", "{}")


def test_environment_is_small_and_explicit() -> None:
    assert launcher_environment("/usr/bin:/bin") == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    env = job_environment("j1", Path("/w/j1"), {"Parameter1": "v", "odd-name": "w"})
    assert env == {"HOME": "/w/j1", "ESAP_JOB_ID": "j1", "ESAP_PARAM_PARAMETER1": "v", "ESAP_PARAM_ODD_NAME": "w"}
    assert env_name("a.b c") == "ESAP_PARAM_A_B_C"


def test_the_launch_file_holds_the_environment_then_the_argv_each_ending_in_nul() -> None:
    spec = launch_spec({"HOME": "/w/j1", "ESAP_PARAM_A": "x=y z"}, ("echo", "it's", ""))
    assert spec == b"2\0HOME=/w/j1\0ESAP_PARAM_A=x=y z\0echo\0it's\0\0"
    with pytest.raises(ValueError, match="NUL"):
        launch_spec({}, ("echo", "a\0b"))


def test_a_command_holding_a_nul_is_refused_for_good() -> None:
    job = _job(workflow=WorkflowRun(slug="w", command=("echo", "a\x00{A}")))
    with pytest.raises(PermanentBackendError, match="NUL"):
        plan_launch(job)


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret", "a/../../b", "", ".", "a//b", "state.jsonl"])
def test_workflow_files_outside_the_workflow_are_refused(name: str) -> None:
    with pytest.raises(PermanentBackendError):
        check_workflow_file(name)


def test_plain_relative_workflow_files_are_accepted() -> None:
    assert str(check_workflow_file("lib/helper.py")) == "lib/helper.py"


def _job(**changes: object) -> SubmitJob:
    fields: dict[str, object] = {
        "job_id": new_id(), "facility": "local", "backend": "local",
        "workflow": WorkflowRun(slug="w", command=("run", "{A}"), files=("x.py",)),
        "parameters": {"A": "1"}, "execution_duration": 7, "callback_token": SecretStr("t" * 32),
    }
    fields.update(changes)
    return SubmitJob.model_validate(fields)


def test_a_plan_carries_the_rendered_command() -> None:
    plan = plan_launch(_job())
    assert plan.argv == ("run", "1")
    assert plan.files == ("x.py",)
    assert plan.execution_duration == 7


def test_a_nul_character_cannot_be_passed() -> None:
    with pytest.raises(PermanentBackendError):
        plan_launch(_job(parameters={"A": "a\x00b"}))
