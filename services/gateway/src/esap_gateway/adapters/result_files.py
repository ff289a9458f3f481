"""Where a result's content lies on this host: ``file://`` locations in a job's own directory under the local
executor's work root.

A result is a plain file directly in its job's directory, as the backends write it (the local executor's
``<root>/<job id>/``, the DIRAC backends' unpacked sandboxes). A location is served only if:
- its directory is a real directory under the work root, reached through no link below the root;
- the file itself is no symbolic link (opened with O_NOFOLLOW) and a regular file;
- the file has one name only: a hard link made by a payload into another job's directory has two.
So a payload, which can write anything in its own directory, cannot have another job's files served as its results.
Anything else (another scheme, another host, a path outside the root) is not served.
Must not depend on anything but the standard library; it knows nothing of HTTP or UWS.
"""

import asyncio
import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit


class LocalResultFiles:
    def __init__(self, work_root: Path) -> None:
        self._roots = {work_root.absolute(), work_root.resolve()}  # locations may name the root either way
        self._root = work_root.resolve()

    async def open_path(self, location: str) -> Path | None:
        """The file to serve for ``location``, or ``None`` when it must not (or cannot) be served."""
        parts = urlsplit(location)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
            return None
        return await asyncio.to_thread(self._contained_file, Path(unquote(parts.path)))

    def _contained_file(self, path: Path) -> Path | None:
        if not path.is_absolute():
            return None
        directory = self._job_directory(Path(os.path.normpath(path.parent)))
        if directory is None:
            return None
        served = directory / path.name
        try:
            descriptor = os.open(served, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # missing, a symbolic link (ELOOP), unreadable
            return None
        try:
            found = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1:
            return None
        return served

    def _job_directory(self, directory: Path) -> Path | None:
        """``directory`` as a real path under the work root, or None if it is not one, or is reached through a link
        below the root."""
        relative = next((directory.relative_to(root) for root in self._roots if directory.is_relative_to(root)), None)
        if relative is None or relative == Path("."):
            return None
        real = self._root / relative
        try:
            if real.resolve(strict=True) != real or not real.is_dir():
                return None
        except (OSError, RuntimeError):
            return None
        return real
