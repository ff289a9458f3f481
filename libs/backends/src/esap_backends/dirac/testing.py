"""Test helpers for the classic DIRAC backend: a fake bridge process (``fake_bridge.py``) for the unit tests, and
the real bridge under DIRAC's virtualenv for the integration tests.

``real_bridge_python`` installs DIRAC with the install module when it is missing and fails (never skips) when it
cannot. The virtualenv is ``var/dirac-venv`` under the current directory (``ESAP_DIRAC_VENV`` overrides it), kept
between runs. Depends on the bridge client and the install module.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

from esap_backends.dirac.client import DiracBridgeClient
from esap_backends.dirac.install import DEFAULT_VENV, ensure_dirac

FAKE_BRIDGE = Path(__file__).with_name("fake_bridge.py")
BRIDGE = Path(__file__).with_name("bridge.py")


class FakeBridge:
    """Writes the fake bridge's script and reads back the requests it received."""

    def __init__(self, directory: Path, script: dict[str, Any] | None = None) -> None:
        self.script_path = directory / "bridge-script.json"
        self.log_path = directory / "bridge-requests.jsonl"
        self.set(script or {})

    def set(self, script: dict[str, Any]) -> None:
        self.script_path.write_text(json.dumps(script))

    def command(self) -> list[str]:
        return [sys.executable, str(FAKE_BRIDGE), str(self.script_path), str(self.log_path)]

    def client(self, timeout_seconds: float = 5.0, start_timeout_seconds: float = 10.0) -> DiracBridgeClient:
        return DiracBridgeClient(self.command(), timeout_seconds=timeout_seconds,
                                 start_timeout_seconds=start_timeout_seconds)

    def requests(self, op: str | None = None) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        rows = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
        return [row for row in rows if op is None or row["op"] == op]


def real_bridge_python() -> Path:
    """DIRAC's virtualenv python, installed first if needed (root machines get swig from apt)."""
    venv = Path(os.environ.get("ESAP_DIRAC_VENV", str(DEFAULT_VENV)))
    return ensure_dirac(venv, apt=os.geteuid() == 0)


def real_bridge_client(python: Path, cfg: Path | None = None, timeout_seconds: float = 60.0) -> DiracBridgeClient:
    """A client of the real bridge, offline (no DIRAC server): for build_jdl."""
    command = [str(python), str(BRIDGE)] + (["--cfg", str(cfg)] if cfg is not None else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "X509", "DIRAC"))}
    return DiracBridgeClient(command, env=env, timeout_seconds=timeout_seconds, start_timeout_seconds=120.0)
