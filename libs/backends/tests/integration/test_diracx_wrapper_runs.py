"""The JDL's Arguments run as a worker node would run them (/bin/sh, split as a shell would): the wrapper decodes
the spec, writes the workflow's files and parameters.json, calls back, and runs the command, in a container when
the facility asks. No DiracX here: the command line alone."""

import http.server
import json
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from uuid import UUID

from pydantic import SecretStr

from esap_backends.diracx import FacilityPlacement, JobInputs
from esap_backends.grid.payload import arguments
from esap_messages import SubmitJob, WorkflowRun

TRICKY = {"Parameter1": 'say "hi"; {x} = [1]', "Parameter2": "a b\nc", "P3": "\\ ' $HOME `id` &&"}
JOB_ID = UUID("01936b2e-7d3a-7c11-9a4e-5b2f8e1d0c3a")


def job(command: tuple[str, ...]) -> SubmitJob:
    return SubmitJob(job_id=JOB_ID, facility="ctadirac", backend="diracx",
                     workflow=WorkflowRun(slug="x", command=command), parameters=TRICKY, execution_duration=0,
                     callback_token=SecretStr("token-" + "x" * 30))


def run_as_worker(args: str, cwd: Path, path: str = os.environ["PATH"]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", *shlex.split(args)], cwd=cwd, capture_output=True, text=True, timeout=30,
                          env={"PATH": path}, check=False)


def test_parameters_files_and_callbacks_arrive_unchanged(tmp_path: Path) -> None:
    reports: list[tuple[str, dict[str, object]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reports.append((self.headers["Authorization"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = "import json, sys; print(json.dumps({'argv': sys.argv[1:], 'file': open('data.txt').read()}))"
        inputs = JobInputs(files={"data.txt": b"shipped\n"}, callback_url=f"http://127.0.0.1:{server.server_port}/cb")
        done = run_as_worker(arguments(job((sys.executable, "-c", script, "{Parameter1}", "{parameter2}", "{P3}")),
                                       inputs), tmp_path)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"argv": [TRICKY["Parameter1"], TRICKY["Parameter2"], TRICKY["P3"]], "file": "shipped\n"}
    assert json.loads((tmp_path / "parameters.json").read_text()) == TRICKY
    assert [body["status"] for _, body in reports] == ["Running", "Done"]
    assert {auth for auth, _ in reports} == {"Bearer token-" + "x" * 30}


def test_a_failing_command_fails_the_job_with_its_exit_code(tmp_path: Path) -> None:
    done = run_as_worker(arguments(job((sys.executable, "-c", "raise SystemExit(3)")), JobInputs()), tmp_path)
    assert done.returncode == 3


def test_a_facility_asking_for_docker_runs_the_command_in_its_image(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    "open('docker-argv.json', 'w').write(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    placement = FacilityPlacement(runtime_engine="docker", container_image="cta/sim:1")
    done = run_as_worker(arguments(job(("echo", "{Parameter1}")), JobInputs(), placement), work,
                         path=f"{bin_dir}:{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    argv = json.loads((work / "docker-argv.json").read_text())
    assert argv == ["run", "--rm", "-v", f"{work}:/work", "-w", "/work", "cta/sim:1", "echo", TRICKY["Parameter1"]]
