"""The bridge to classic DIRAC: a process run by DIRAC's own virtualenv python, spoken to in JSON lines.

Run as ``<dirac-venv>/bin/python bridge.py [--setup S] [--config-server URL] [--cfg FILE]`` (the proxy comes from
``X509_USER_PROXY``). It reads one request a line on stdin, ``{"id": 1, "op": "submit", "args": {...}}``, runs it
in a thread of its own (DIRAC's calls block), and writes one answer a line on stdout, ``{"id": 1, "ok": true,
"value": ...}`` or ``{"id": 1, "ok": false, "error": {"message": ..., "errno": ..., "kind": ...}}``; the first
line it writes is ``{"ready": true, ...}``. DIRAC logs to stdout, so the answers get a file descriptor of their
own and everything else goes to stderr. It ends at the end of its input once the calls under way are answered,
or when killed (the caller's time limit).

Operations: ``build_jdl`` (offline: a job description -> DIRAC's JDL and workflow XML), ``submit``,
``find_by_name``, ``kill``, ``bulk_status``, ``changed_since`` (ids of a job group updated since a time) and
``output_sandbox`` (a job's output sandbox archives, downloaded into a directory, not unpacked: the caller unpacks
them by its own rules). A job description is ``{"stdout", "stderr", "calls": [{"method",
"args", "kwargs"}]}``: setter calls on DIRAC's Job API, only those in SETTERS.
Depends on the standard library and DIRAC only: it must never import pydantic or the rest of esap-batch.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

SETTERS = frozenset({
    "setName", "setJobGroup", "setExecutable", "setCPUTime", "setDestination", "setBannedSites", "setTag",
    "setPlatform", "setPriority", "setInputSandbox", "setOutputSandbox", "setLogLevel", "setType",
    "setNumberOfProcessors", "setRAMRequirements",
})


class BridgeError(Exception):
    """A failed operation: DIRAC's S_ERROR (kind ``dirac``), a job DIRAC's API refused (``refused``), or a
    request this bridge cannot read (``usage``)."""

    def __init__(self, message: str, kind: str = "dirac", errno: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.errno = errno
        self.extra = extra


def checked(result: dict[str, Any]) -> Any:
    """The value of DIRAC's S_OK, or BridgeError for its S_ERROR."""
    if result.get("OK"):
        return result.get("Value")
    extra = {key: result[key] for key in ("FailedJobIDs", "NonauthorizedJobIDs", "InvalidJobIDs")
             if key in result}
    raise BridgeError(str(result.get("Message", "DIRAC gave no reason")), errno=result.get("Errno"), **extra)


def make_job(description: dict[str, Any]) -> Any:
    """A DIRAC Job built by the description's setter calls; BridgeError ``refused`` if DIRAC rejects one."""
    from DIRAC.Interfaces.API.Job import Job

    job = Job(stdout=description.get("stdout", "std.out"), stderr=description.get("stderr", "std.err"))
    for call in description.get("calls", []):
        method = call.get("method")
        if method not in SETTERS:
            raise BridgeError(f"the bridge does not call Job.{method}", kind="usage")
        result = getattr(job, method)(*call.get("args", []), **call.get("kwargs", {}))
        if isinstance(result, dict) and not result.get("OK", True):
            raise BridgeError(f"DIRAC refused {method}: {result.get('Message')}", kind="refused")
    errors = getattr(job, "errorDict", {})
    if errors:
        raise BridgeError(f"DIRAC refused the job: {errors}", kind="refused")
    return job


def build_jdl(args: dict[str, Any]) -> dict[str, Any]:
    """The JDL and workflow XML DIRAC would submit, and the step's executable and arguments read back from that
    XML as a worker node reads them."""
    from DIRAC.Core.Workflow.Workflow import fromXMLString

    job = make_job(args["description"])
    xml = job._toXML()
    jdl = job._toJDL(jobDescriptionObject=io.StringIO(xml))
    workflow = fromXMLString(xml)
    steps = []
    for step in workflow.step_instances:
        values = {name: step.parameters.find(name) for name in ("executable", "arguments", "applicationLog")}
        steps.append({name: p.getValue() if p is not None else None for name, p in values.items()})
    return {"jdl": jdl, "workflow_xml": xml, "steps": steps}


def submit(args: dict[str, Any]) -> int:
    from DIRAC.Interfaces.API.Dirac import Dirac

    value = checked(Dirac().submitJob(make_job(args["description"])))
    return int(value[0] if isinstance(value, list) else value)


def find_by_name(args: dict[str, Any]) -> list[int]:
    """The ids of the jobs named ``name`` in ``job_group`` (a redelivered submission finds its job)."""
    from DIRAC.WorkloadManagementSystem.Client.JobMonitoringClient import JobMonitoringClient

    conditions = {"JobName": args["name"], "JobGroup": args["job_group"]}
    return sorted(int(i) for i in checked(JobMonitoringClient().getJobs(conditions)) or [])


def kill(args: dict[str, Any]) -> Any:
    from DIRAC.Interfaces.API.Dirac import Dirac

    return checked(Dirac().killJob(int(args["job_id"])))


STATUS_ATTRIBUTES = ("Status", "MinorStatus", "ApplicationStatus", "Site", "StartExecTime", "EndExecTime",
                     "LastUpdateTime")
NO_SANDBOX = "No Output sandbox found"  # DIRAC's SandboxStoreClient, when no output sandbox was registered
NO_PARAMETERS = "Failed to get job parameters"  # Dirac.getJobParameters, when the job has none


def bulk_status(args: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """Status, MinorStatus, ApplicationStatus, Site and execution times of many jobs: one call whatever their
    number (the job attributes, as getJobsSummary reads them)."""
    from DIRAC.WorkloadManagementSystem.Client.JobMonitoringClient import JobMonitoringClient

    ids = [int(i) for i in args["job_ids"]]
    if not ids:
        return {}
    rows = checked(JobMonitoringClient().getJobsSummary(ids)) or {}
    return {str(job_id): status_row(row) for job_id, row in rows.items() if isinstance(row, dict)}


def status_row(row: dict[str, Any]) -> dict[str, str | None]:
    """The attributes esap-batch reads; times as ISO 8601 text (DIRAC's are naive UTC), None when unset."""
    answer: dict[str, str | None] = {}
    for name in STATUS_ATTRIBUTES:
        value: Any = row.get(name)
        if hasattr(value, "isoformat"):
            answer[name] = value.isoformat()
        elif value is None or str(value) in ("", "None"):
            answer[name] = None if name.endswith("Time") else ""
        else:
            answer[name] = str(value)
    return answer


def changed_since(args: dict[str, Any]) -> list[int]:
    """The ids of the jobs of ``job_group`` whose LastUpdateTime is at or after ``since`` (naive UTC text)."""
    from DIRAC.WorkloadManagementSystem.Client.JobMonitoringClient import JobMonitoringClient

    found = checked(JobMonitoringClient().getJobs({"JobGroup": args["job_group"]}, args["since"]))
    return sorted(int(i) for i in found or [])


def output_sandbox(args: dict[str, Any]) -> dict[str, Any]:
    """Download the job's output sandbox archives into ``directory``; their names there (none: no sandbox).

    Not unpacked by DIRAC (whose extraction follows any path the payload put in the archive), and never the
    "oversized" route of getOutputSandbox, which changes the process's working directory under the other threads:
    a sandbox DIRAC moved to grid storage is read from its OutputSandboxLFN parameter instead."""
    from DIRAC.Interfaces.API.Dirac import Dirac

    job_id, directory = int(args["job_id"]), str(args["directory"])
    os.makedirs(directory, exist_ok=True)
    dirac = Dirac()
    result = dirac.getOutputSandbox(job_id, outputDir=directory, noJobDir=True, oversized=False, unpack=False)
    if result.get("OK"):
        return {"archives": [_move_into(path, directory, n) for n, path in enumerate(result.get("Value") or [])]}
    if NO_SANDBOX.lower() not in str(result.get("Message", "")).lower():
        checked(result)
    answer = dirac.getJobParameters(job_id)
    if not answer.get("OK") and NO_PARAMETERS in str(answer.get("Message", "")):
        return {"archives": []}  # a job that never ran (it failed in DIRAC's optimizers) has neither
    parameters = checked(answer) or {}
    lfn = parameters.get("OutputSandboxLFN") if isinstance(parameters, dict) else None
    if not lfn:
        return {"archives": []}
    fetched = checked(dirac.getFile(str(lfn), destDir=directory))
    local = (fetched.get("Successful") or {}).get(str(lfn)) if isinstance(fetched, dict) else None
    return {"archives": [os.path.basename(str(local or lfn))]}


def _move_into(path: str, directory: str, number: int) -> str:
    """Move an archive DIRAC left in a temporary directory of its own into ``directory``; its name there."""
    name = f"sandbox-{number}-{os.path.basename(path)}"
    shutil.move(path, os.path.join(directory, name))
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(path))
    return name


OPERATIONS = {"build_jdl": build_jdl, "submit": submit, "find_by_name": find_by_name, "kill": kill,
              "bulk_status": bulk_status, "changed_since": changed_since, "output_sandbox": output_sandbox}


class Bridge:
    def __init__(self, out: IO[str], threads: int) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dirac")

    def write(self, answer: dict[str, Any]) -> None:
        line = json.dumps(answer, default=str)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def serve(self, lines: IO[str]) -> None:
        for line in lines:
            if line.strip():
                self._pool.submit(self.handle, line)
        self._pool.shutdown(wait=True)  # the caller kills this process if it cannot wait

    def handle(self, line: str) -> None:
        request_id = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            operation = OPERATIONS.get(request.get("op"))
            if operation is None:
                raise BridgeError(f"unknown operation {request.get('op')!r}", kind="usage")
            self.write({"id": request_id, "ok": True, "value": operation(request.get("args") or {})})
        except BridgeError as exc:
            self.write({"id": request_id, "ok": False, "error": {
                "message": str(exc), "errno": exc.errno, "kind": exc.kind, **exc.extra}})
        except Exception as exc:  # a bug or an unexpected DIRAC exception: the caller decides
            traceback.print_exc(file=sys.stderr)
            self.write({"id": request_id, "ok": False, "error": {
                "message": f"{type(exc).__name__}: {exc}", "errno": None, "kind": "exception"}})


def initialize(options: argparse.Namespace) -> str:
    """DIRAC's local configuration (no server contacted here); its version."""
    import DIRAC

    extra: dict[str, Any] = {}
    if options.setup:
        extra.setdefault("DIRAC", {})["Setup"] = options.setup
    if options.config_server:
        extra.setdefault("DIRAC", {}).setdefault("Configuration", {})["Servers"] = options.config_server
    DIRAC.initialize(require_auth=False, extra_config_files=[options.cfg] if options.cfg else None,
                     extra_config=extra or None)
    return str(DIRAC.version)


def main() -> None:
    parser = argparse.ArgumentParser(description="JSON-lines bridge to classic DIRAC")
    parser.add_argument("--setup", default="")
    parser.add_argument("--config-server", default="")
    parser.add_argument("--cfg", default="")
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()
    # Answers get the real stdout; DIRAC's logging (and any print) goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    bridge = Bridge(out, max(1, options.threads))
    try:
        version = initialize(options)
    except Exception as exc:
        bridge.write({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(2) from exc
    bridge.write({"ready": True, "dirac_version": version, "pid": os.getpid()})
    bridge.serve(sys.stdin)
    out.flush()
    os._exit(0)  # DIRAC's own threads must not hold the process


if __name__ == "__main__":
    main()
