"""The four services as separate processes on this host: for `make run`, the end-to-end tests and the benchmark.

It starts each service's console script with a given environment, waits for its /healthz, and stops, kills and
restarts them. It knows the services' names and commands, nothing of what they do.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from esap_runtime.probes import answers_ok

SERVICES = ("catalog", "gateway", "submitter", "monitor")
DEFAULT_PORTS = {"gateway": 8000, "catalog": 8001, "submitter": 8002, "monitor": 8003}


class StackError(RuntimeError):
    """A service did not start, or a setup command failed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(names: Iterable[str] = SERVICES) -> dict[str, int]:
    """A free port per name, all different (two calls of free_port can name the same port)."""
    wanted = list(names)
    while True:
        ports = {name: free_port() for name in wanted}
        if len(set(ports.values())) == len(ports):
            return ports


def script(name: str) -> str:
    """The console script installed beside this interpreter."""
    return str(Path(sys.executable).parent / name)


@dataclass
class Service:
    name: str
    port: int
    env: dict[str, str]
    log: IO[bytes] | None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [script(f"esap-{self.name}")], env=self.env, stdout=self.log, stderr=self.log,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(f"{self.name} exited with {self.process.returncode} while starting")
            if answers_ok(f"{self.url}/healthz", timeout=2):
                return
            time.sleep(0.05)
        raise StackError(f"{self.name} was not healthy at {self.url}/healthz within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Stack:
    """All four services sharing one environment (database, bus namespace, work root)."""

    env: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    log_dir: Path | None = None
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def _env_for(self, name: str) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env["ESAP_CATALOG_URL"] = f"http://127.0.0.1:{self.ports['catalog']}"
        env["ESAP_GATEWAY_URL"] = self.gateway_url
        env[f"{name.upper()}_HTTP_PORT"] = str(self.ports[name])
        return env

    def setup(self) -> None:
        """Migrate and seed the catalog's database."""
        for command in (["migrate"], ["seed"]):
            done = subprocess.run([script("esap-catalog"), *command], env=self._env_for("catalog"),
                                  capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise StackError(f"esap-catalog {command[0]} failed:\n{done.stdout}\n{done.stderr}")

    def start(self, *names: str) -> None:
        for name in names or SERVICES:
            log = open(self.log_dir / f"{name}.log", "ab") if self.log_dir else None  # noqa: SIM115
            service = Service(name, self.ports[name], self._env_for(name), log)
            self.services[name] = service
            service.start()
        for name in names or SERVICES:
            self.services[name].wait_healthy()

    def kill(self, name: str) -> None:
        self.services[name].kill()

    def restart(self, name: str) -> None:
        self.services[name].kill()
        self.start(name)

    def pids(self) -> dict[str, int]:
        return {n: s.process.pid for n, s in self.services.items() if s.process and s.process.poll() is None}

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for name in reversed(list(self.services)):
            codes[name] = self.services[name].stop()
            log = self.services[name].log
            if log is not None:
                log.close()
        return codes
