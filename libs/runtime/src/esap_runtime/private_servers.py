"""A RabbitMQ node and a PostgreSQL cluster of a test's own, to stop, crash and start again.

Fault tests must never touch the shared servers other tests use: each server here has its own ports, its data
in a temporary folder, and goes away with ``close``. Both are started from the machine's own installation
(RabbitMQ's server scripts, PostgreSQL's initdb and pg_ctl); a missing installation raises PrivateServerError,
and the fixtures that use these fail the test, never skip it.

- RabbitMQ: the scripts under RabbitMQ's lib folder (not the wrappers on PATH, which switch to the rabbitmq
  user) with every path and port its own: node name, AMQP and distribution ports, database, logs, pid file,
  configuration, no plugins, and HOME (where the Erlang cookie lives). ``stop`` is a clean shutdown, ``crash``
  a SIGKILL of the node's process.
- PostgreSQL: ``initdb`` and ``pg_ctl``, as the ``postgres`` user when run by root (PostgreSQL refuses root).
  ``stop("fast")`` is a clean shutdown, ``stop("immediate")`` a crash: the next start replays the WAL.

Depends on the standard library and esap_runtime.probes (itself standard library only).
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from esap_runtime.probes import signal_reaches

START_SECONDS = 60.0
"""How long a start may take before it counts as failed."""


class PrivateServerError(RuntimeError):
    """A private server could not be installed, started or stopped."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _alive(pid: int) -> bool:
    return signal_reaches(os.kill, pid)


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise PrivateServerError(f"process {pid} did not end within {timeout:.0f} s")
        time.sleep(0.05)


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise PrivateServerError(f"{what} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def rabbitmq_scripts() -> Path:
    """RabbitMQ's own server scripts (ESAP_RABBITMQ_SBIN overrides the search)."""
    given = os.environ.get("ESAP_RABBITMQ_SBIN")
    found = [given] if given else sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"))
    for candidate in reversed(found):
        if (Path(candidate) / "rabbitmq-server").exists():
            return Path(candidate)
    raise PrivateServerError("RabbitMQ's server scripts were not found (set ESAP_RABBITMQ_SBIN)")


class PrivateRabbitMQ:
    """One RabbitMQ node on loopback, guest/guest, with everything in ``root``."""

    def __init__(self, root: Path, name: str = "esapfaults") -> None:
        self.root = root
        self.node = f"{name}{os.getpid()}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self._sbin = rabbitmq_scripts()
        (root / "home").mkdir(parents=True, exist_ok=True)
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def _pid_file(self) -> Path:
        return self.root / "rabbitmq.pid"

    def _env(self) -> dict[str, str]:
        root = self.root
        return {
            **os.environ,
            "HOME": str(root / "home"),
            "RABBITMQ_CONF_ENV_FILE": "/dev/null",  # the machine's node settings are not this node's
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(self._pid_file),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "ERL_CRASH_DUMP": str(root / "erl_crash.dump"),
        }

    def pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        """Start the node and return once it has booted and accepts AMQP connections (the listener opens before
        the last boot steps: a queue declared then could vanish)."""
        self._pid_file.unlink(missing_ok=True)
        subprocess.run([str(self._sbin / "rabbitmq-server"), "-detached"], env=self._env(), check=True,
                       capture_output=True, timeout=60)
        deadline = time.monotonic() + START_SECONDS
        while not _answers(self.port):
            if time.monotonic() > deadline:
                raise PrivateServerError(f"RabbitMQ node {self.node} did not listen on {self.port}: "
                                         f"{self._log_tail()}")
            time.sleep(0.1)
        _run([str(self._sbin / "rabbitmqctl"), "-n", self.node, "await_startup", "--timeout", str(int(START_SECONDS))],
             "rabbitmqctl await_startup", self._env())

    def stop(self) -> None:
        """A clean shutdown: clients see their connections closed by the broker."""
        pid = self.pid()
        if pid is None:
            return
        _run([str(self._sbin / "rabbitmqctl"), "-n", self.node, "stop"], "rabbitmqctl stop", self._env())
        _wait_gone(pid, 60)

    def crash(self) -> None:
        """SIGKILL of the node: nothing is flushed, clients see their sockets die."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 30)

    def close_connections(self, reason: str = "closed by the fault test") -> None:
        """The broker closes every client connection (the node stays up)."""
        _run([str(self._sbin / "rabbitmqctl"), "-n", self.node, "close_all_connections", reason],
             "rabbitmqctl close_all_connections", self._env())

    def close(self) -> None:
        with contextlib.suppress(PrivateServerError, OSError, subprocess.SubprocessError):
            self.stop()
        self.crash()
        shutil.rmtree(self.root, ignore_errors=True)

    def _log_tail(self) -> str:
        logs = sorted((self.root / "log").glob("*.log"))
        return logs[0].read_text(errors="replace")[-2000:] if logs else "(no log)"


def postgres_binaries() -> Path:
    """The newest installed PostgreSQL's bin folder (ESAP_POSTGRES_BIN overrides the search)."""
    given = os.environ.get("ESAP_POSTGRES_BIN")
    found = [given] if given else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for candidate in reversed(found):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PrivateServerError("PostgreSQL's initdb and pg_ctl were not found (set ESAP_POSTGRES_BIN)")


class PrivatePostgres:
    """One PostgreSQL cluster on loopback, user postgres with trust authentication, data in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self._bin = postgres_binaries()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        root.mkdir(parents=True, exist_ok=True)
        if self._as:
            postgres = pwd.getpwnam("postgres")
            os.chown(root, postgres.pw_uid, postgres.pw_gid)
        self.data = root / "data"
        _run([*self._as, str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
              "--no-sync", "-E", "UTF8"], "initdb")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*self._as, str(self._bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"),
              "-o", options, "-w", "-t", str(int(START_SECONDS)), "start"], "pg_ctl start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: a crash, recovered from the WAL at the next start."""
        if mode not in ("fast", "immediate"):
            raise ValueError(f"unknown stop mode {mode!r}")
        _run([*self._as, str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
             f"pg_ctl stop -m {mode}")

    def running(self) -> bool:
        return subprocess.run([*self._as, str(self._bin / "pg_ctl"), "-D", str(self.data), "status"],
                              capture_output=True).returncode == 0

    def close(self) -> None:
        with contextlib.suppress(PrivateServerError, OSError, subprocess.SubprocessError):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def private_root(prefix: str) -> Path:
    """A temporary folder that the postgres user can enter (pytest's own are private to the user running it)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root
