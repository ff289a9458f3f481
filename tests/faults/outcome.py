"""What a fault round shows: its answers, its jobs, its ledger and its processes, checked against what every round
must show (``Outcome.problems``), and its line in the report."""

from collections import Counter
from dataclasses import dataclass

from tests.faults.load import Answer

FINAL = frozenset({"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"})
ANSWER_BOUND = 1.0
"""Seconds within which every request in flight during a fault must be answered (a 503 with Retry-After will do)."""


@dataclass
class Window:
    """A fault: from its first act to its repair (the fault's own service or server answering again)."""

    began: float
    repaired: float | None = None

    def overlaps(self, answer: Answer) -> bool:
        end = self.repaired if self.repaired is not None else float("inf")
        return answer.sent <= end and answer.sent + answer.seconds >= self.began


@dataclass
class Outcome:
    """A round as it ended: every answer, every job, the ledger's count of runs per job id, and the processes."""

    name: str
    answers: list[Answer]
    phases: dict[str, str]
    """Every job in the round's database, by id."""
    ledger: Counter[str]
    windows: list[Window]
    drain: float | None
    drain_bound: float
    restarted: list[str]
    gateway_down: list[Window]
    dead_lettered: dict[str, int]

    @property
    def accepted(self) -> list[str]:
        return [a.job_id for a in self.answers if a.accepted and a.job_id is not None]

    @property
    def refused(self) -> int:
        return sum(1 for a in self.answers if a.status == 503)

    @property
    def unreachable(self) -> int:
        return sum(1 for a in self.answers if a.failure in ("unreachable", "dropped"))

    @property
    def completed(self) -> int:
        return sum(1 for j in self.accepted if self.phases.get(j) == "COMPLETED")

    @property
    def stuck(self) -> list[str]:
        """Accepted jobs not in a final phase (missing ones included)."""
        return [j for j in self.accepted if self.phases.get(j) not in FINAL]

    @property
    def unannounced(self) -> list[str]:
        """Jobs in the database that no 303 announced."""
        return sorted(set(self.phases) - set(self.accepted))

    @property
    def dropped(self) -> int:
        """Requests whose connection closed unanswered while the gateway was killed: each may have made a job that
        its client never heard of (the broker confirmed it, then the gateway died before answering)."""
        return sum(1 for a in self.answers if a.failure == "dropped" and any(w.overlaps(a) for w in self.gateway_down))

    def notes(self) -> list[str]:
        """What the round shows that is not a failure."""
        if self.unannounced and len(self.unannounced) <= self.dropped:
            return [f"{len(self.unannounced)} jobs were made by requests whose answer was lost with the killed "
                    f"gateway ({self.dropped} such requests); they completed like the others"]
        return []

    @property
    def run_twice(self) -> list[str]:
        return [j for j, n in self.ledger.items() if n > 1]

    @property
    def slowest(self) -> float:
        return max((a.seconds for a in self.answers), default=0.0)

    @property
    def slowest_in_fault(self) -> float:
        return max((a.seconds for a in self.answers if any(w.overlaps(a) for w in self.windows)), default=0.0)

    def problems(self) -> list[str]:
        found: list[str] = []
        accepted = set(self.accepted)
        not_done = Counter(self.phases.get(j, "missing") for j in accepted if self.phases.get(j) != "COMPLETED")
        if not_done:
            found.append(f"{sum(not_done.values())} accepted jobs did not complete: {dict(not_done)}, "
                         f"e.g. {sorted(j for j in accepted if self.phases.get(j) != 'COMPLETED')[:3]}")
        active = [j for j, p in self.phases.items() if p not in FINAL]
        if active:
            found.append(f"{len(active)} jobs left active, e.g. {active[:3]}")
        unasked = self.unannounced
        if len(unasked) > self.dropped:
            found.append(f"{len(unasked)} jobs exist that no 303 announced ({self.dropped} requests lost their "
                         f"answer with a killed gateway), e.g. {unasked[:3]}")
        if self.run_twice:
            found.append(f"{len(self.run_twice)} payloads ran more than once, e.g. {self.run_twice[:3]}")
        never = sorted(j for j in accepted if self.ledger[j] == 0)
        if never:
            found.append(f"{len(never)} accepted jobs never ran their payload, e.g. {never[:3]}")
        strangers = sorted(set(self.ledger) - accepted - set(unasked))
        if strangers:
            found.append(f"{len(strangers)} payloads ran for jobs no 303 announced, e.g. {strangers[:3]}")
        if self.restarted:
            found.append(f"services restarted that were not killed: {self.restarted}")
        if self.drain is None:
            found.append(f"the backlog did not drain within {self.drain_bound:.0f} s of the repair")
        if self.dead_lettered:
            found.append(f"messages dead-lettered: {self.dead_lettered}")
        found += self._answer_problems()
        return found

    def _answer_problems(self) -> list[str]:
        found: list[str] = []
        hanging = [a for a in self.answers if a.failure == "timeout"]
        if hanging:
            found.append(f"{len(hanging)} requests left hanging (no answer within the client's timeout)")
        odd = Counter(a.status if a.status is not None else a.failure for a in self.answers
                      if a.status not in (303, 503) and a.failure not in ("timeout", "unreachable", "dropped"))
        if odd:
            found.append(f"answers other than 303 and 503: {dict(odd)}")
        bare = sum(1 for a in self.answers if a.status == 503 and not a.retry_after)
        if bare:
            found.append(f"{bare} answers 503 without Retry-After")
        astray = Counter(a.failure for a in self.answers if a.failure in ("unreachable", "dropped")
                         and not any(w.overlaps(a) for w in self.gateway_down))
        if astray:
            found.append(f"requests that found no gateway, or lost it, while it was not killed: {dict(astray)}")
        late = [a for a in self.answers if any(w.overlaps(a) for w in self.windows) and a.seconds > ANSWER_BOUND]
        if late:
            found.append(f"{len(late)} requests in flight during the fault took over {ANSWER_BOUND:.0f} s to "
                         f"answer (slowest {max(a.seconds for a in late):.2f} s, statuses "
                         f"{dict(Counter(a.status or a.failure for a in late))})")
        return found

    def row(self) -> str:
        drain = f"{self.drain:.1f}" if self.drain is not None else f"> {self.drain_bound:.0f}"
        verdict = "ok" if not self.problems() else "FAILED"
        return (f"| {self.name} | {len(self.accepted)} | {self.refused} | {self.unreachable} | {self.completed} | "
                f"{len(self.stuck)} | {len(self.run_twice)} | {drain} | {self.slowest:.2f} | "
                f"{self.slowest_in_fault:.2f} | {verdict} |")


REPORT_HEADER = (
    "| round | accepted (303) | refused (503) | gateway gone | completed | stuck | run twice | drain after repair (s) "
    "| slowest answer (s) | slowest during the fault (s) | verdict |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)
