"""Where a result's content lies on this host: ``file://`` locations under the local executor's work root.

A location is served only if, once resolved (symbolic links and ``..`` included), it is a regular file inside
the work root; anything else (another scheme, another host, a path outside the root) is not served.
Must not depend on anything but the standard library; it knows nothing of HTTP or UWS.
"""

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlsplit


class LocalResultFiles:
    def __init__(self, work_root: Path) -> None:
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
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self._root) or not resolved.is_file():
            return None
        return resolved
