"""The alert rules evaluated by Prometheus' own rule engine: promtool checks the rules file and runs the unit tests in
tests/deploy/alerts, which feed metric series and say which alerts must fire, when, and which must not.

promtool comes from PATH, else from Debian's prometheus package, unpacked once under var/tools (no daemon is
installed or started). A machine where neither works fails the test, never skips it."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "esap-alerts.yml"
RULE_TESTS = sorted((ROOT / "tests" / "deploy" / "alerts").glob("*.test.yml"))
TOOLS = ROOT / "var" / "tools"
UNPACKED = TOOLS / "prometheus" / "usr" / "bin" / "promtool"


def _unpack_promtool() -> Path:
    """Debian's prometheus package, downloaded (not installed) and unpacked under var/tools."""
    TOOLS.mkdir(parents=True, exist_ok=True)
    for package in TOOLS.glob("prometheus_*.deb"):
        package.unlink()
    download = subprocess.run(["apt-get", "download", "prometheus"], cwd=TOOLS, capture_output=True, text=True)
    if download.returncode != 0:  # no package lists yet on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, check=False)
        download = subprocess.run(["apt-get", "download", "prometheus"], cwd=TOOLS, capture_output=True, text=True)
    packages = sorted(TOOLS.glob("prometheus_*.deb"))
    if download.returncode != 0 or not packages:
        pytest.fail(f"promtool is not on PATH and Debian's prometheus package could not be downloaded: "
                    f"{download.stderr[-500:]}", pytrace=False)
    subprocess.run(["dpkg-deb", "-x", str(packages[-1]), str(TOOLS / "prometheus")], check=True)
    packages[-1].unlink()
    return UNPACKED


@pytest.fixture(scope="module")
def promtool() -> Path:
    found = shutil.which("promtool")
    if found:
        return Path(found)
    return UNPACKED if UNPACKED.exists() else _unpack_promtool()


def test_prometheus_accepts_the_rules_file(promtool: Path) -> None:
    checked = subprocess.run([str(promtool), "check", "rules", str(RULES)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda path: path.name)
def test_the_alerts_fire_when_and_only_when_their_unit_tests_say(promtool: Path, rule_test: Path) -> None:
    tested = subprocess.run([str(promtool), "test", "rules", str(rule_test)], capture_output=True, text=True,
                            cwd=rule_test.parent)

    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_unit_tests_cover_every_alert_about_a_queue_nobody_reads() -> None:
    covered = " ".join(path.read_text() for path in RULE_TESTS)

    for alert in ("EsapQueueWithoutConsumers", "EsapConsumerLost", "EsapBrokerUnreachable"):
        assert f"alertname: {alert}" in covered, alert
