"""Workflow files shipped with remote jobs: read by base name, and every way it cannot work is a permanent error."""

from pathlib import Path

import pytest

from esap_backends.base import PermanentBackendError
from esap_backends.shipped import read_workflow_files


def test_files_are_read_by_their_base_name(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (tmp_path / "data.txt").write_bytes(b"\x00\x01")
    assert read_workflow_files(tmp_path, ["sub/run.sh", "data.txt"]) == {
        "run.sh": b"#!/bin/sh\necho hi\n", "data.txt": b"\x00\x01"}
    assert read_workflow_files(None, []) == {}


@pytest.mark.parametrize(("names", "why"), [
    (["../secret"], "relative path inside the workflow"),
    (["/etc/passwd"], "relative path inside the workflow"),
    (["missing.txt"], "cannot be read"),
])
def test_what_cannot_be_shipped_is_refused_for_good(tmp_path: Path, names: list[str], why: str) -> None:
    with pytest.raises(PermanentBackendError, match=why):
        read_workflow_files(tmp_path, names)


def test_no_workflows_directory_ships_nothing(tmp_path: Path) -> None:
    with pytest.raises(PermanentBackendError, match="no workflows directory"):
        read_workflow_files(None, ["run.sh"])
