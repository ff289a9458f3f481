"""Fixtures of the fault suite: the module's private servers, and the report of every round
(test-artifacts/faults/report.md, and the end of pytest's output)."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.faults.outcome import REPORT_HEADER, Outcome
from tests.faults.rounds import ARTIFACTS, Servers

from esap_runtime.private_servers import PrivatePostgres, PrivateRabbitMQ


class Report:
    """Rows of the rounds run so far, written out after each round so that a run cut short still leaves them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.began = time.monotonic()
        self.outcomes: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.text())

    def text(self) -> str:
        lines = ["# Fault rounds", "", REPORT_HEADER, *(o.row() for o in self.outcomes), ""]
        for outcome in self.outcomes:
            problems, notes = outcome.problems(), outcome.notes()
            if problems or notes:
                lines += [f"## {outcome.name}: {'failed' if problems else 'passed'}", "",
                          *(f"- {p}" for p in problems), *(f"- (note) {n}" for n in notes), ""]
        lines.append(f"Wall time so far: {time.monotonic() - self.began:.0f} s for {len(self.outcomes)} rounds.")
        return "\n".join(lines) + "\n"


_REPORT = pytest.StashKey[Report]()


@pytest.fixture(scope="session")
def fault_report(request: pytest.FixtureRequest) -> Report:
    config = request.config
    if _REPORT not in config.stash:
        config.stash[_REPORT] = Report(ARTIFACTS / "report.md")
    return config.stash[_REPORT]


@pytest.fixture(scope="module")
def servers(private_rabbitmq: PrivateRabbitMQ, private_postgres: PrivatePostgres,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield Servers(rabbitmq=private_rabbitmq, postgres=private_postgres, scratch=tmp_path_factory.mktemp("faults"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is not None and report.outcomes:
        terminalreporter.section("fault rounds")
        terminalreporter.write(report.text())
