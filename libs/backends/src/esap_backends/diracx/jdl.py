"""A job as DIRAC JDL: the description DiracX stores and a pilot runs. Pure functions, no I/O.

DiracX 0.7.0 refuses an escaped quote inside a JDL string and rewrites (garbles) strings holding ``;``, ``[`` or
newlines, and list items with spaces. So nothing of the user's travels as JDL text: the job's command, its
parameters, the workflow's files and the callback address go into one base64 (URL-safe alphabet) spec, and a
small wrapper, itself base64-encoded, decodes them on the worker node. Every character that reaches the JDL is
one of ``[A-Za-z0-9_=.+/-]``, spaces, and a few shell characters (``' | > & $``). The container the wrapper runs
the command in (``container``) is the workflow's own, else the facility's default, with the facility's engine.
Depends on esap_messages and the backend errors only.
"""

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from esap_backends.base import PermanentBackendError
from esap_messages import SubmitJob

JOB_NAME_PREFIX = "esap-"
STDOUT = "stdout.txt"
STDERR = "stderr.txt"
SPEC_VERSION = 1
# The facility's own values (Site, Tags, Platform) become JDL strings: keep them to DIRAC's plain names.
_PLAIN = re.compile(r"^[A-Za-z0-9_.+-]{1,128}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Runs on the worker node (any Python 3): writes the workflow's files and parameters.json, reports Running to
# the gateway, runs the command with each {Name} replaced inside its own argv item (never through a shell), then
# reports Done or Failed. A callback that cannot be delivered never fails the job.
WRAPPER = '''\
import base64, json, os, re, subprocess, sys, time, urllib.request
spec = json.loads(base64.urlsafe_b64decode(sys.argv[1]))
params = spec["parameters"]
folded = {k.casefold(): v for k, v in params.items()}
def value(m):
    name = m.group(1)
    return params[name] if name in params else folded[name.casefold()]
argv = [re.sub(r"\\{([A-Za-z_][A-Za-z0-9_]*)\\}", value, item) for item in spec["command"]]
engine = spec.get("engine")
if engine and engine["kind"] == "docker":
    argv = ["docker", "run", "--rm", "-v", os.getcwd() + ":/work", "-w", "/work", engine["image"]] + argv
elif engine:
    argv = [engine["kind"], "exec", "--bind", os.getcwd() + ":/work", "--pwd", "/work", engine["image"]] + argv
for name, content in spec["files"].items():
    with open(name, "wb") as out:
        out.write(base64.b64decode(content))
with open("parameters.json", "w") as out:
    json.dump(params, out)
def report(body):
    cb = spec.get("callback")
    if not cb:
        return
    body = dict(body, started_at=started)
    request = urllib.request.Request(cb["url"], data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": "Bearer " + cb["token"], "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except Exception as exc:
        sys.stderr.write("esap callback not delivered: %r\\n" % (exc,))
def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
started = now()
env = dict(os.environ, ESAP_JOB_ID=spec["job_id"])
for name, val in params.items():
    env["ESAP_PARAM_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()] = val
report({"status": "Running"})
sys.stdout.flush()
try:
    code = subprocess.call(argv, env=env)
except OSError as exc:
    sys.stderr.write("could not start %s: %s\\n" % (argv[0], exc))
    code = 127
report({"status": "Done" if code == 0 else "Failed", "ended_at": now(), "exit_code": code,
        "message": "" if code == 0 else "exit code %d" % code})
sys.exit(code)
'''


@dataclass(frozen=True)
class FacilityPlacement:
    """Where a facility's jobs may run, from the facility's settings: DIRAC Site, Tags, Platform, containers."""

    sites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    platform: str = ""
    job_group: str = "esap"
    runtime_engine: str = ""
    """The engine the facility runs containers with (docker, apptainer, singularity); "" runs each workflow's
    container with the engine the workflow names. With ``container_image``, also the default container of the
    workflows that name none."""
    container_image: str = ""
    """The default image of workflows that name no container; "" runs them as plain processes."""
    priority: int = 1
    default_cpu_time: int = 86400

    @classmethod
    def from_settings(cls, *, sites: str, tags: str, platform: str, job_group: str, runtime_engine: str,
                      container_image: str, default_cpu_time: int) -> "FacilityPlacement":
        """From settings as written: comma-separated sites and tags, values with stray spaces."""
        return cls(sites=_split(sites), tags=_split(tags), platform=platform.strip(), job_group=job_group,
                   runtime_engine=runtime_engine.strip(), container_image=container_image.strip(),
                   default_cpu_time=default_cpu_time)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class JobInputs:
    """What the JDL needs beside the job: the workflow's files (by name) and the callback URL, if any."""

    files: Mapping[str, bytes] = field(default_factory=dict)
    callback_url: str | None = None


def job_name(job: SubmitJob) -> str:
    """The JobName carrying our job id: how a redelivered submit finds the DIRAC job it already made."""
    return f"{JOB_NAME_PREFIX}{job.job_id}"


def cpu_time(execution_duration: int, placement: FacilityPlacement) -> int:
    """CPUTime in seconds: the UWS execution duration, or the facility's default when it is unlimited (0)."""
    return execution_duration if execution_duration > 0 else placement.default_cpu_time


RUNTIME_ENGINES = frozenset({"docker", "apptainer", "singularity"})
_SINGULARITY_LIKE = frozenset({"apptainer", "singularity"})
_DOCKER_SCHEME = "docker://"
# An image reference or a path (e.g. on CVMFS); it becomes one argv item of the engine, never shell text.
_IMAGE = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9._:/@+-]{0,1023}$")


def container(job: SubmitJob, placement: FacilityPlacement) -> tuple[str, str] | None:
    """The engine and image the job runs in on the worker node, or None for a plain process.

    The workflow's own container wins; the facility's default applies only to workflows that name none. A
    facility that runs containers with Apptainer or Singularity runs a Docker image as ``docker://image``, and
    one that runs Docker takes a Singularity image only in that form. Raises PermanentBackendError otherwise.
    """
    engine = placement.runtime_engine
    if engine and engine not in RUNTIME_ENGINES:
        raise PermanentBackendError(f"the facility's runtime engine {engine!r} is not one of "
                                    f"{', '.join(sorted(RUNTIME_ENGINES))}")
    if job.runtime is None:
        if not placement.container_image:
            return None
        if not engine:
            raise PermanentBackendError("the facility's default container image needs a runtime engine")
        return engine, _image(placement.container_image)
    wanted, image = job.runtime.engine.value, _image(job.runtime.image)
    if not engine or engine == wanted or (engine in _SINGULARITY_LIKE and wanted in _SINGULARITY_LIKE):
        return engine or wanted, image
    if engine in _SINGULARITY_LIKE:  # a Docker image
        return engine, image if "://" in image else _DOCKER_SCHEME + image
    if image.startswith(_DOCKER_SCHEME):  # a Docker facility, a Singularity image that is a Docker one
        return engine, _image(image.removeprefix(_DOCKER_SCHEME))
    raise PermanentBackendError(f"the facility runs containers with {engine}; the workflow's {wanted} image "
                                f"{image!r} is not a Docker image")


def _image(image: str) -> str:
    if not _IMAGE.match(image):
        raise PermanentBackendError(f"{image[:80]!r} is not a container image reference")
    return image


def encode_spec(job: SubmitJob, inputs: JobInputs, placement: FacilityPlacement | None = None) -> str:
    """The job's spec as URL-safe base64: what the wrapper decodes on the worker node."""
    spec: dict[str, object] = {
        "version": SPEC_VERSION,
        "job_id": str(job.job_id),
        "command": list(job.workflow.command),
        "parameters": dict(job.parameters),
        "files": {name: base64.b64encode(data).decode("ascii") for name, data in sorted(inputs.files.items())},
    }
    runs_in = container(job, placement or FacilityPlacement())
    if runs_in is not None:
        spec["engine"] = {"kind": runs_in[0], "image": runs_in[1]}
    if inputs.callback_url:
        spec["callback"] = {"url": inputs.callback_url, "token": job.callback_token.get_secret_value()}
    return base64.urlsafe_b64encode(json.dumps(spec, sort_keys=True).encode()).decode("ascii")


def arguments(job: SubmitJob, inputs: JobInputs, placement: FacilityPlacement | None = None) -> str:
    """``-c '<decode the wrapper and run it>' <spec>`` for /bin/sh: base64 text only between the quotes."""
    wrapper = base64.b64encode(WRAPPER.encode()).decode("ascii")
    program = f"echo {wrapper} | base64 -d > esap_wrapper.py && exec python3 esap_wrapper.py $0"
    return f"-c '{program}' {encode_spec(job, inputs, placement)}"


def to_jdl(job: SubmitJob, placement: FacilityPlacement, inputs: JobInputs) -> str:
    """The JDL of one job. Raises PermanentBackendError for what DIRAC could never run."""
    for name in inputs.files:
        if not _FILE_NAME.match(name):
            raise PermanentBackendError(f"workflow file {name!r} cannot travel to a DIRAC worker node")
    outputs = [STDOUT, STDERR, *(o.name for o in job.workflow.outputs if o.name not in (STDOUT, STDERR))]
    lines = [
        ("JobName", _string(job_name(job))),
        ("JobGroup", _string(_plain(placement.job_group, "JobGroup"))),
        ("Executable", _string("/bin/sh")),
        ("Arguments", _string(arguments(job, inputs, placement))),
        ("StdOutput", _string(STDOUT)),
        ("StdError", _string(STDERR)),
        ("OutputSandbox", _list(outputs)),
        ("CPUTime", str(cpu_time(job.execution_duration, placement))),
        ("Priority", str(placement.priority)),
    ]
    if placement.sites:
        lines.append(("Site", _list([_plain(s, "Site") for s in placement.sites])))
    if placement.tags:
        lines.append(("Tags", _list([_plain(t, "Tags") for t in placement.tags])))
    if placement.platform:
        lines.append(("Platform", _string(_plain(placement.platform, "Platform"))))
    body = "\n".join(f"    {key} = {value};" for key, value in lines)
    return f"[\n{body}\n]"


def _plain(value: str, what: str) -> str:
    if not _PLAIN.match(value):
        raise PermanentBackendError(f"the facility's {what} {value!r} is not a plain DIRAC name")
    return value


def _string(value: str) -> str:
    if any(c in value for c in '";[\n\\'):
        raise PermanentBackendError(f"a JDL string cannot hold {value[:40]!r}")
    return f'"{value}"'


def _list(values: Sequence[str]) -> str:
    return "{" + ", ".join(_string(v) for v in values) + "}"
