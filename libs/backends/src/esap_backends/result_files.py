"""A finished DIRAC job's output sandbox on this host: archives unpacked into the job's results directory, and that
directory listed as ``file://`` results. Shared by the DiracX and classic DIRAC backends, so both name and type
results alike.

Unpacking keeps to plain files named like results (no paths, links or devices: the payload wrote the archive);
a marker file says the directory is complete, so a job's outputs are fetched once. Depends on the backend errors,
esap_messages and zstandard only; knows nothing of how the archives were fetched.
"""

import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import zstandard

from esap_backends.base import PermanentBackendError
from esap_messages import ResultFile
from esap_messages.model import ResultName

FETCHED_MARKER = ".fetched"
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
STDOUT_FILE = "stdout.txt"  # the StdOutput and StdError both DIRAC backends give their jobs
STDERR_FILE = "stderr.txt"
_IDS = {STDOUT_FILE: "stdout", STDERR_FILE: "stderr"}
_MIME = {".json": "application/json", ".txt": "text/plain", ".log": "text/plain", ".xml": "application/xml",
         ".fits": "application/fits", ".png": "image/png", ".csv": "text/csv"}


def is_fetched(directory: Path) -> bool:
    """Whether the job's outputs were unpacked into ``directory`` completely already."""
    return (directory / FETCHED_MARKER).exists()


def unpack(archives: Iterable[bytes | Path], directory: Path) -> None:
    """Unpack the archives (contents, or files on this host) into ``directory`` and mark it complete; an archive
    that is not one raises PermanentBackendError (fetching it again brings the same bytes). Tar archives plain,
    gzip, bzip2 or xz, and zstd (what DiracX's own job API uploads: ``tar.zst``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        try:
            with _open_tar(archive) as opened:
                _extract(opened, directory)
        except (tarfile.TarError, EOFError, zstandard.ZstdError) as exc:
            raise PermanentBackendError(f"the output sandbox is not a readable archive: {exc}") from exc
    (directory / FETCHED_MARKER).touch()


def _open_tar(archive: bytes | Path) -> tarfile.TarFile:
    if isinstance(archive, Path):
        with open(archive, "rb") as handle:
            if handle.read(len(ZSTD_MAGIC)) != ZSTD_MAGIC:
                return tarfile.open(archive, mode="r:*")
            handle.seek(0)
            return tarfile.open(fileobj=io.BytesIO(_unzstd(handle)), mode="r:")
    if archive.startswith(ZSTD_MAGIC):
        return tarfile.open(fileobj=io.BytesIO(_unzstd(io.BytesIO(archive))), mode="r:")
    return tarfile.open(fileobj=io.BytesIO(archive), mode="r:*")


def _unzstd(source: BinaryIO) -> bytes:
    """The decompressed tar, refused past MAX_ARCHIVE_BYTES (a small archive may expand enormously)."""
    with zstandard.ZstdDecompressor().stream_reader(source) as reader:
        data = reader.read(MAX_ARCHIVE_BYTES + 1)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise PermanentBackendError(f"the output sandbox expands beyond {MAX_ARCHIVE_BYTES} bytes")
    return data


def _extract(archive: tarfile.TarFile, directory: Path) -> None:
    for member in archive.getmembers():
        name = os.path.basename(member.name)
        if not member.isfile() or name != member.name or not _result_name(name):
            continue
        source = archive.extractfile(member)
        if source is not None:
            (directory / name).write_bytes(source.read())


def _result_name(name: str) -> bool:
    try:
        ResultFile(name=name, size=0, mime_type="x", location="x")
    except ValueError:
        return False
    return True


def list_results(directory: Path) -> tuple[ResultFile, ...]:
    """The files of a results directory, by name (stdout and stderr under those ids), with size and MIME type."""
    if not directory.is_dir():
        return ()
    found = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        result_id: ResultName = _IDS.get(path.name, path.name)
        found.append(ResultFile(name=result_id, size=path.stat().st_size,
                                mime_type=_MIME.get(path.suffix, "application/octet-stream"),
                                location=path.as_uri()))
    return tuple(found)
