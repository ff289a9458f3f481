"""Output sandboxes of every compression DIRAC uses unpack alike; what is not an archive, or expands too far, is
refused for good."""

import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from esap_backends import PermanentBackendError, result_files
from esap_backends.result_files import is_fetched, list_results, unpack

FILES = {"stdout.txt": b"hello\n", "helloworld.json": b'{"Parameter1": "999"}', "../escape.txt": b"no"}


def _tar(mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in FILES.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


ARCHIVES = {"tar": _tar("w:"), "tar.gz": _tar("w:gz"), "tar.bz2": _tar("w:bz2"), "tar.xz": _tar("w:xz"),
            "tar.zst": zstandard.ZstdCompressor().compress(_tar("w:"))}


@pytest.mark.parametrize("kind", sorted(ARCHIVES))
@pytest.mark.parametrize("on_disk", [False, True], ids=["bytes", "file"])
def test_every_compression_unpacks_to_the_same_results(tmp_path: Path, kind: str, on_disk: bool) -> None:
    archive: bytes | Path = ARCHIVES[kind]
    if on_disk:
        path = tmp_path / f"sandbox.{kind}"
        path.write_bytes(ARCHIVES[kind])
        archive = path
    out = tmp_path / "results"
    unpack([archive], out)
    assert is_fetched(out)
    found = {r.name: (r.size, r.mime_type) for r in list_results(out)}
    assert found == {"stdout": (6, "text/plain"), "helloworld.json": (21, "application/json")}
    assert not (tmp_path / "escape.txt").exists()


def test_what_is_not_an_archive_is_refused_for_good(tmp_path: Path) -> None:
    with pytest.raises(PermanentBackendError, match="not a readable archive"):
        unpack([b"\x28\xb5\x2f\xfd" + b"not zstd at all"], tmp_path / "a")
    with pytest.raises(PermanentBackendError, match="not a readable archive"):
        unpack([b"plain text"], tmp_path / "b")
    assert not is_fetched(tmp_path / "a") and not is_fetched(tmp_path / "b")


def test_a_zstd_sandbox_that_expands_too_far_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(result_files, "MAX_ARCHIVE_BYTES", 4096)
    bomb = zstandard.ZstdCompressor().compress(b"\0" * 1_000_000)
    assert len(bomb) < 4096
    with pytest.raises(PermanentBackendError, match="expands beyond 4096 bytes"):
        unpack([bomb], tmp_path / "c")
