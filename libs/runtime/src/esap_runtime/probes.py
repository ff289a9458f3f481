"""Probes of what runs beside a process on this host: does a process (or a process group) exist, does a local
HTTP server answer. For the development stack, the private test servers and the local backend, which ask these
questions while they start, watch and stop processes of their own.

Depends on the standard library only (import-linter's stdlib-only contract): the stdlib-only modules of the
backends may use it.
"""

import urllib.error
import urllib.request
from collections.abc import Callable


def signal_reaches(kill: Callable[[int, int], None], target: int) -> bool:
    """Signal 0 sent with ``kill`` (os.kill for a pid, os.killpg for a group) finds ``target``: it exists, whether
    or not it is ours to signal. Zombies count as existing."""
    try:
        kill(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers_ok(url: str, timeout: float) -> bool:
    """An http URL the caller built answers 200 within ``timeout``; no answer, or another status, is False."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http URLs the callers build)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
