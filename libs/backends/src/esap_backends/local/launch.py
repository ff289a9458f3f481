"""What the local executor runs for a job: the argv from the workflow's command template, the payload's
environment, and the checks on the workflow files it ships. Pure functions, no I/O. It runs plain processes:
a job whose workflow names a container is refused for good.

Values never pass through a shell: each ``{Name}`` is replaced inside one argv item, so a value with quotes,
braces, spaces, ``=`` or ``;`` arrives unchanged. Depends on esap_messages, the backend errors and the layout only.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from esap_backends.base import PermanentBackendError
from esap_backends.local.layout import RESERVED_NAMES, JobFile
from esap_messages import SubmitJob
from esap_messages.model import OutputFile

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
LANG = "C.UTF-8"


@dataclass(frozen=True)
class LaunchPlan:
    """Everything needed to start the job's process, known before anything is written."""

    argv: tuple[str, ...]
    parameters: Mapping[str, str]
    execution_duration: int
    files: tuple[str, ...] = ()
    outputs: tuple[OutputFile, ...] = ()


def plan_launch(job: SubmitJob) -> LaunchPlan:
    """Check the job and render its command; PermanentBackendError if it can never run."""
    if job.runtime is not None:
        raise PermanentBackendError(
            f"the local executor runs plain processes only; workflow {job.workflow.slug!r} needs the "
            f"{job.runtime.engine.value} runtime (image {job.runtime.image[:200]!r}): choose a facility that "
            "offers it")
    for name, value in job.parameters.items():
        if "\x00" in name or "\x00" in value:
            raise PermanentBackendError(f"parameter {name!r} holds a NUL character")
    argv = render_command(job.workflow.command, job.parameters)
    if not argv or any("\x00" in item for item in argv):
        raise PermanentBackendError(f"workflow {job.workflow.slug!r} has an empty command or one holding a NUL")
    files = tuple(str(check_workflow_file(name)) for name in job.workflow.files)
    return LaunchPlan(
        argv=argv,
        parameters=dict(job.parameters),
        execution_duration=job.execution_duration,
        files=files,
        outputs=job.workflow.outputs,
    )


def plan_from_job_file(job_file: JobFile) -> LaunchPlan:
    """The plan of a job written earlier (a restarted submitter starting a Received or Waiting job)."""
    return LaunchPlan(
        argv=job_file.argv,
        parameters=job_file.parameters,
        execution_duration=job_file.execution_duration,
        outputs=job_file.workflow.outputs,
    )


def render_command(template: Sequence[str], parameters: Mapping[str, str]) -> tuple[str, ...]:
    """Replace ``{Name}`` in every argv item by the parameter's value, once (a value is never re-scanned).

    The name is matched exactly, else case-insensitively (UWS clients send names in either case).
    """
    folded = {name.casefold(): value for name, value in parameters.items()}

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters:
            return parameters[name]
        if name.casefold() in folded:
            return folded[name.casefold()]
        raise PermanentBackendError(f"the command names parameter {{{name}}}, which the job does not have")

    return tuple(PLACEHOLDER.sub(value_of, item) for item in template)


def env_name(parameter: str) -> str:
    """ESAP_PARAM_<NAME>: the name upper-cased, characters not allowed in a variable name made ``_``."""
    return "ESAP_PARAM_" + _ENV_UNSAFE.sub("_", parameter).upper()


def launcher_environment(search_path: str) -> dict[str, str]:
    """What every job inherits from the launcher. Nothing of the service's own environment leaks into a payload:
    it sees these, its job's own (``job_environment``), and the PWD the shell sets."""
    return {"PATH": search_path, "LANG": LANG}


def job_environment(job_id: str, job_dir: str | Path, parameters: Mapping[str, str]) -> dict[str, str]:
    """What each job adds to the launcher's environment."""
    env = {"HOME": str(job_dir), "ESAP_JOB_ID": job_id}
    for name, value in parameters.items():
        env[env_name(name)] = value
    return env


def check_workflow_file(name: str) -> PurePosixPath:
    """A workflow file to ship must be a plain relative path inside the workflows directory."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("..", "") for part in name.split("/")):
        raise PermanentBackendError(f"workflow file {name!r} is not a relative path inside the workflow")
    if str(path) == "." or str(path) in RESERVED_NAMES:
        raise PermanentBackendError(f"workflow file {name!r} would overwrite the executor's own files")
    return path
