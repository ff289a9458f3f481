"""The files of a workflow that travel with its jobs to a remote backend (DiracX, classic DIRAC).

Reads them from the workflows directory by their checked, relative names; a file that cannot be read makes the
job impossible to run, hence PermanentBackendError. Blocking I/O: call it off the event loop. Depends on the
backend errors and the local executor's name check only.
"""

from collections.abc import Iterable
from pathlib import Path

from esap_backends.base import PermanentBackendError
from esap_backends.local.launch import check_workflow_file


def read_workflow_files(workflows_dir: Path | None, names: Iterable[str]) -> dict[str, bytes]:
    """Each file's content by its base name."""
    files: dict[str, bytes] = {}
    for name in names:
        relative = check_workflow_file(name)
        if workflows_dir is None:
            raise PermanentBackendError(f"workflow file {name!r} cannot be shipped: no workflows directory")
        try:
            files[relative.name] = (workflows_dir / relative).read_bytes()
        except OSError as exc:
            raise PermanentBackendError(f"workflow file {name!r} cannot be read: {exc}") from exc
    return files
