"""A real DiracX 0.7.0 server on loopback, for development and the test suite (no Docker, no DiracX code here).

``ensure_venv`` installs DiracX from PyPI into a virtualenv of its own (``var/diracx-venv`` by default, reused
while its requirements are unchanged); ``DevServer.start`` makes a signing key, a configuration repository (one
VO, a user in a user, a pilot and an administrator group), sqlite databases and a moto S3 for the sandboxes, then
runs the API under uvicorn and waits until it is live. Access is by the legacy-exchange API key. Run it by hand
with ``python -m esap_backends.diracx.devserver`` (or scripts/diracx-dev.sh). Depends on the standard library
and esap_runtime.probes (itself standard library only).
"""

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from esap_runtime.probes import answers_ok

DIRACX_VERSION = "0.7.0"
REQUIREMENTS = (
    *(f"{name}=={DIRACX_VERSION}" for name in (
        "diracx", "diracx-core", "diracx-db", "diracx-routers", "diracx-logic", "diracx-client", "diracx-cli",
        "diracx-testing")),
    "uvicorn", "moto[server]",
)
VO = "esap"
USER = "esap"
USER_GROUP = "esap_user"
PILOT_GROUP = "esap_pilot"
ADMIN_GROUP = "esap_admin"
BUCKET = "sandboxes"
START_TIMEOUT_SECONDS = 90.0


class DevServerError(RuntimeError):
    """The development DiracX could not be installed or started."""


def ensure_venv(venv: Path, python: str = sys.executable) -> Path:
    """A virtualenv holding DiracX; installed once, again only when REQUIREMENTS change. Its python."""
    marker = venv / ".esap-requirements"
    wanted = "\n".join(REQUIREMENTS)
    interpreter = venv / "bin" / "python"
    if interpreter.exists() and marker.exists() and marker.read_text() == wanted:
        return interpreter
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv")
    if uv:
        _run([uv, "venv", "--quiet", "--python", python, str(venv)], "create the DiracX virtualenv")
        _run([uv, "pip", "install", "--quiet", "--python", str(interpreter), *REQUIREMENTS], "install DiracX")
    else:
        _run([python, "-m", "venv", str(venv)], "create the DiracX virtualenv")
        _run([str(interpreter), "-m", "pip", "install", "--quiet", *REQUIREMENTS], "install DiracX")
    marker.write_text(wanted)
    return interpreter


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DevServer:
    """A running development DiracX: its URL, its API key, and where its state lives."""

    python: Path
    state: Path
    port: int = 0
    s3_port: int = 0
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    env: dict[str, str] = field(default_factory=dict)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def job_db(self) -> Path:
        return self.state / "db" / "jobdb.db"

    @classmethod
    def start(cls, python: Path, state: Path, port: int = 0) -> "DevServer":
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        server = cls(python=python, state=state, port=port or free_port(), s3_port=free_port())
        try:
            server._configure()
            server._start_s3()
            server.start_api()
        except BaseException:
            server.stop()
            raise
        return server

    def start_api(self) -> None:
        """Start (or start again, after ``stop_api``) the API on the same port, state and databases."""
        bin_dir = self.python.parent
        self._spawn("api", [str(bin_dir / "uvicorn"), "--factory", "diracx.testing.routers:create_app",
                            "--host", "127.0.0.1", "--port", str(self.port)])
        self._wait_live()

    def stop_api(self) -> None:
        self._terminate("api")

    def stop(self) -> None:
        for name in list(self._processes):
            self._terminate(name)

    def exports(self) -> dict[str, str]:
        """Settings for esap-batch's submitter and monitor (ESAP_ prefix: both read it)."""
        return {"ESAP_DIRACX_URL": self.url, "ESAP_DIRACX_API_KEY": self.api_key, "ESAP_DIRACX_VO": VO,
                "ESAP_DIRACX_GROUP": USER_GROUP, "ESAP_DIRACX_USERNAME": USER}

    # --- internals ----------------------------------------------------------------------------------------

    def _configure(self) -> None:
        keys, repo, db = self.state / "keys", self.state / "cs", self.state / "db"
        keys.mkdir()
        db.mkdir()
        self._tool(["-m", "diracx.logic", "rotate-jwk", "--jwks-path", str(keys / "jwks.json")])
        cs = f"git+file://{repo}"
        dirac = str(self.python.parent / "dirac")
        self._cli([dirac, "internal", "generate-cs", cs])
        self._cli([dirac, "internal", "add-vo", f"--vo={VO}", "--idp-url=http://127.0.0.1:9/idp",
                   f"--idp-client-id={VO}", f"--default-group={USER_GROUP}", cs])
        self._cli([dirac, "internal", "add-group", f"--vo={VO}", f"--group={PILOT_GROUP}",
                   "--properties", "GenericPilot", "--properties", "LimitedDelegation", cs])
        self._cli([dirac, "internal", "add-group", f"--vo={VO}", f"--group={ADMIN_GROUP}",
                   "--properties", "JobAdministrator", "--properties", "NormalUser", cs])
        self._cli([dirac, "internal", "add-user", f"--vo={VO}", "--group", USER_GROUP, "--group", PILOT_GROUP,
                   "--group", ADMIN_GROUP, f"--sub={uuid.uuid4()}", f"--preferred-username={USER}", cs])
        urls = self._tool(["-m", "diracx.db", "generate-local-urls", str(db)])
        env = {name: _patient(value) for name, value in _parse_exports(urls)}
        fernet = self._tool(["-c", "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"])
        env.update({
            "DIRACX_CONFIG_BACKEND_URL": cs,
            "DIRACX_SERVICE_AUTH_TOKEN_KEYSTORE": f"file://{keys / 'jwks.json'}",
            "DIRACX_SERVICE_AUTH_STATE_KEY": fernet.strip(),
            "DIRACX_SERVICE_AUTH_TOKEN_ISSUER": self.url,
            "DIRACX_SANDBOX_STORE_BUCKET_NAME": BUCKET,
            "DIRACX_SANDBOX_STORE_AUTO_CREATE_BUCKET": "true",
            "DIRACX_SANDBOX_STORE_S3_CLIENT_KWARGS": json.dumps({
                "endpoint_url": f"http://127.0.0.1:{self.s3_port}", "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing"}),
            "DIRACX_LEGACY_EXCHANGE_HASHED_API_KEY": hashlib.sha256(self.api_key.encode()).hexdigest(),
        })
        self.env = env

    def _start_s3(self) -> None:
        self._spawn("s3", [str(self.python.parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.s3_port)) == 0:
                    return
            self._check_alive("s3")
            time.sleep(0.2)
        raise DevServerError(f"moto S3 did not listen on port {self.s3_port}; see {self.state / 's3.log'}")

    def _wait_live(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self._check_alive("api")
            if answers_ok(f"{self.url}/api/health/live", timeout=5):
                return
            time.sleep(0.3)
        raise DevServerError(f"DiracX was not live within {START_TIMEOUT_SECONDS} s: {self._tail('api')}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.state / f"{name}.log").open("ab")
        self._processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.state, env={**self._base_env(), **self.env},
            start_new_session=True)
        log.close()

    def _terminate(self, name: str) -> None:
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def _check_alive(self, name: str) -> None:
        process = self._processes.get(name)
        if process is not None and process.poll() is not None:
            raise DevServerError(f"DiracX's {name} process exited with {process.returncode}: {self._tail(name)}")

    def _tail(self, name: str) -> str:
        path = self.state / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def _tool(self, args: list[str]) -> str:
        return self._cli([str(self.python), *args])

    def _cli(self, argv: list[str]) -> str:
        return _run(argv, f"run {' '.join(argv[:4])}", env={**self._base_env(), **self.env})

    @staticmethod
    def _base_env() -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE")}
        return {**keep, "GIT_AUTHOR_NAME": "esap", "GIT_AUTHOR_EMAIL": "esap@localhost",
                "GIT_COMMITTER_NAME": "esap", "GIT_COMMITTER_EMAIL": "esap@localhost", "NO_COLOR": "1"}


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevServerError(f"could not {what}: {exc}") from exc
    if done.returncode != 0:
        raise DevServerError(f"could not {what} (exit {done.returncode}): {(done.stderr or done.stdout)[-3000:]}")
    return done.stdout


SQLITE_BUSY_SECONDS = 20
"""How long a sqlite write waits for another's lock. sqlite's default, 5 s, is soon spent when jobs are submitted,
matched and heartbeating together (after an outage, say), and DiracX 0.7.0 then answers a submission with a
misleading 400 "JDL syntax error", which fails the job for good. Below the 30 s a DiracX client allows a call."""


def _patient(value: str) -> str:
    """A database URL (or DiracX's JSON settings naming one) of sqlite, waiting SQLITE_BUSY_SECONDS for locks."""
    return re.sub(r'(sqlite\+aiosqlite:///[^"?\s]+)', rf"\1?timeout={SQLITE_BUSY_SECONDS}", value)


def _parse_exports(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export "):].split("=", 1)
            pairs.append((name, value.strip().strip("'\"") if value[:1] in "'\"" else value))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a development DiracX on loopback until interrupted.")
    parser.add_argument("--venv", type=Path, default=Path("var/diracx-venv"))
    parser.add_argument("--state", type=Path, default=Path("var/diracx"))
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args()
    server = DevServer.start(ensure_venv(args.venv.resolve()), args.state.resolve(), args.port)
    # Shell exports on stdout, for eval; the rest of the world reads the logs under --state.
    sys.stdout.write("".join(f"export {name}={value}\n" for name, value in server.exports().items()))
    sys.stdout.flush()
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()


if __name__ == "__main__":
    main()
