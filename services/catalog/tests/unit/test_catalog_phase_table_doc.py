"""docs/ARCHITECTURE.md shows the DIRAC status -> phase table for readers; this keeps it the code's table."""

import re
from pathlib import Path

from esap_catalog.domain.phases import DIRAC_TO_PHASE
from esap_messages import DiracStatus, Phase

ARCHITECTURE = Path(__file__).resolve().parents[4] / "docs" / "ARCHITECTURE.md"
_ROW = re.compile(r"^\| ([A-Z][a-z]+(?:, [A-Z][a-z]+)*) \| ([A-Z]+) \|$", re.MULTILINE)


def test_the_architecture_page_shows_the_code_s_table() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text[text.index("| DIRAC status | phase |"):]
    documented = {DiracStatus(status): Phase(phase)
                  for statuses, phase in _ROW.findall(table.split("\n\n", 1)[0])
                  for status in statuses.split(", ")}
    assert documented == DIRAC_TO_PHASE
