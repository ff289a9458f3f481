"""A job as a DIRAC worker node runs it, for both DIRAC backends (``dirac``, ``diracx``): its name, its files, its
wrapper and its spec. Pure functions, no I/O.

DiracX 0.7.0 refuses an escaped quote inside a JDL string and rewrites (garbles) strings holding ``;``, ``[`` or
newlines, and list items with spaces; classic DIRAC's Job API mangles ``{ } = "`` in arguments. So nothing of the
user's travels as text: the job's command, its parameters, the workflow's files and the callback address go into
one base64 (URL-safe alphabet) spec, and a small wrapper, itself base64-encoded, decodes them on the worker node
and runs the command in the container the placement gives (``placement.container``). Depends on the placement,
esap_messages and the backend errors only; never on either DIRAC package.
"""

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from esap_backends.base import PermanentBackendError, attempt_key
from esap_backends.grid.placement import FacilityPlacement, container
from esap_messages import SubmitJob

JOB_NAME_PREFIX = "esap-"
STDOUT = "stdout.txt"
STDERR = "stderr.txt"
SPEC_VERSION = 1
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
class JobInputs:
    """What a job description needs beside the job: the workflow's files (by name) and the callback URL, if any."""

    files: Mapping[str, bytes] = field(default_factory=dict)
    callback_url: str | None = None


def job_name(job: SubmitJob) -> str:
    """The JobName carrying our job id: how a redelivered submit finds the DIRAC job it already made."""
    return f"{JOB_NAME_PREFIX}{attempt_key(job.job_id, job.attempt)}"


def check_file_names(names: Iterable[str]) -> None:
    """PermanentBackendError for a workflow file whose name could not travel to a worker node."""
    for name in names:
        if not _FILE_NAME.match(name):
            raise PermanentBackendError(f"workflow file {name!r} cannot travel to a DIRAC worker node")


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
