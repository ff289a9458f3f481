"""A service that cannot start says so by its exit status: every service's command, run with a RabbitMQ that is
not there, ends non-zero (uvicorn's start-up failure, 3) within seconds, so that a process supervisor, Kubernetes or
``make run`` sees the failure instead of a service that exited cleanly and does nothing."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from esap_runtime.stack import DEFAULT_PORTS

BIN = Path(sys.executable).parent
SERVICES = tuple(DEFAULT_PORTS)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_without_its_broker_exits_non_zero(service: str) -> None:
    prefix = service.upper()
    env = {**os.environ, f"{prefix}_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{_closed_port()}/",
           f"{prefix}_HTTP_PORT": str(_closed_port()), f"{prefix}_HTTP_HOST": "127.0.0.1"}
    done = subprocess.run([str(BIN / f"esap-{service}")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Application startup failed" in done.stdout + done.stderr
