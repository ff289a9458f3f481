"""The bridge to classic DIRAC: a process run by DIRAC's own virtualenv python, spoken to in JSON lines.

Run as ``<dirac-venv>/bin/python bridge.py [--setup S] [--config-server URL] [--cfg FILE]`` (the proxy comes from
``X509_USER_PROXY``). It reads one request a line on stdin, ``{"id": 1, "op": "submit", "args": {...}}``, runs it
in a thread of its own (DIRAC's calls block), and writes one answer a line on stdout, ``{"id": 1, "ok": true,
"value": ...}`` or ``{"id": 1, "ok": false, "error": {"message": ..., "errno": ..., "kind": ...}}``; the first
line it writes is ``{"ready": true, ...}``. DIRAC logs to stdout, so the answers get a file descriptor of their
own and everything else goes to stderr. It ends at the end of its input once the calls under way are answered,
or when killed (the caller's time limit).

Operations: ``build_jdl`` (offline: a job description -> DIRAC's JDL and workflow XML), ``submit``,
``find_by_name``, ``kill``, ``bulk_status``. A job description is ``{"stdout", "stderr", "calls": [{"method",
"args", "kwargs"}]}``: setter calls on DIRAC's Job API, only those in SETTERS.
Depends on the standard library and DIRAC only: it must never import pydantic or the rest of esap-batch.
"""

import argparse
import io
import json
import os
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


def bulk_status(args: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Status, MinorStatus, ApplicationStatus and Site of many jobs: two calls whatever their number."""
    from DIRAC.WorkloadManagementSystem.Client.JobMonitoringClient import JobMonitoringClient

    ids = [int(i) for i in args["job_ids"]]
    if not ids:
        return {}
    client = JobMonitoringClient()
    states = checked(client.getJobsStates(ids)) or {}
    sites = checked(client.getJobsSites(ids)) or {}
    answer: dict[str, dict[str, str]] = {}
    for job_id, row in states.items():
        site = sites.get(job_id, {})
        answer[str(job_id)] = {
            "Status": str(row.get("Status") or ""), "MinorStatus": str(row.get("MinorStatus") or ""),
            "ApplicationStatus": str(row.get("ApplicationStatus") or ""),
            "Site": str(site.get("Site") or "") if isinstance(site, dict) else str(site or ""),
        }
    return answer


OPERATIONS = {"build_jdl": build_jdl, "submit": submit, "find_by_name": find_by_name, "kill": kill,
              "bulk_status": bulk_status}


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
