"""A DiracX credentials file, as diracx-client reads and writes it: read, and replace atomically.

The file is one JSON object: ``access_token``, ``refresh_token`` and ``expires_on`` (Unix seconds, already
shortened by a grace period). Several processes may share one file (the submitter and the monitor), so a refresh
happens under an exclusive lock on a lock file beside it, and whoever takes the lock reads the file again first:
a token refreshed by another process is used rather than refreshed twice (DiracX revokes every token of a user
whose rotated refresh token is used again). Writes go to a temporary file (mode 0600) renamed over the old one.
Blocking file I/O: callers run these functions in a thread. Depends on the standard library only.
"""

import contextlib
import fcntl
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

EXPIRES_GRACE_SECONDS = 15  # what diracx-client takes off expires_in when it writes expires_on


class CredentialsError(Exception):
    """The credentials file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class Credentials:
    access_token: str
    refresh_token: str | None
    expires_on: int
    """Unix time after which the access token must not be used."""

    @classmethod
    def from_token_response(cls, answer: dict[str, object], now: float,
                            previous: "Credentials | None" = None) -> "Credentials":
        """What DiracX's token endpoint answered, as diracx-client would write it; a refresh token left out of
        the answer is the previous one (DiracX keeps a legacy-exchange refresh token instead of rotating it)."""
        try:
            access = str(answer["access_token"])
            expires_in = int(str(answer["expires_in"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CredentialsError(f"DiracX gave no usable token: {answer!r:.200}") from exc
        refresh = answer.get("refresh_token") or (previous.refresh_token if previous else None)
        return cls(access, str(refresh) if refresh else None, int(now + expires_in - EXPIRES_GRACE_SECONDS))

    def to_json(self) -> str:
        return json.dumps({"access_token": self.access_token, "refresh_token": self.refresh_token,
                           "expires_on": self.expires_on})


def read_credentials(path: Path) -> Credentials:
    try:
        data = json.loads(path.read_text())
        return Credentials(access_token=str(data["access_token"]),
                           refresh_token=str(data["refresh_token"]) if data.get("refresh_token") else None,
                           expires_on=int(data["expires_on"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(f"cannot read DiracX credentials from {path}: {exc!r}") from exc


def write_credentials(path: Path, credentials: Credentials) -> None:
    """Replace the file atomically: readers see the old credentials or the new ones, never half of them."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(credentials.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename is durable once the directory is synced
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def lock(path: Path) -> int:
    """Take the exclusive lock of the credentials file (blocks until it is free); ``unlock`` gives it back."""
    try:
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CredentialsError(f"cannot lock the DiracX credentials file {path}: {exc!r}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock(fd: int) -> None:
    os.close(fd)  # closing the descriptor releases the lock
