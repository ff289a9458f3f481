"""The DIRAC install module's pure parts: which of DIRAC's requirements it installs, the stamp that makes a second
run a no-op, and the clear failure when build packages are missing. (The real install runs in the integration
tests.)"""

import sys
import zipfile
from pathlib import Path

import pytest

from esap_backends.dirac import install


def test_requirements_honour_markers_leave_extras_out_and_skip_gfal2() -> None:
    requires = [
        "boto3>=1.35", "gfal2-python", "DIRACCommon==v9.1.22", "M2Crypto>=0.50",
        'tomli; python_version < "3.0"', 'mysqlclient; extra == "server"', 'psutil; sys_platform == "linux"',
        "Gfal2_Python>=1",
    ]
    wanted = install.wanted_requirements(requires, Path(sys.executable))
    expected = ["boto3>=1.35", "DIRACCommon==v9.1.22", "M2Crypto>=0.50"]
    if sys.platform == "linux":
        expected.append("psutil")
    assert wanted == expected


def test_requires_dist_is_read_from_the_wheel_metadata(tmp_path: Path) -> None:
    wheel = tmp_path / "dirac-9.1.22-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("dirac-9.1.22.dist-info/METADATA", "Metadata-Version: 2.1\nName: DIRAC\n"
                         "Requires-Dist: boto3>=1.35\nRequires-Dist: pytest; extra == \"testing\"\n\n")
    assert install._requires_dist(wheel) == ["boto3>=1.35", 'pytest; extra == "testing"']


def test_the_stamp_says_whether_this_version_is_installed(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    assert not install.is_installed(venv, "9.1.22")
    (venv / install.STAMP).write_text("9.1.21\n")
    assert not install.is_installed(venv, "9.1.22")
    (venv / install.STAMP).write_text("9.1.22\n")
    assert install.is_installed(venv, "9.1.22")
    assert install.ensure_dirac(venv, version="9.1.22") == venv / "bin" / "python"  # nothing else happens


def test_missing_build_packages_fail_with_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(install, "BUILD_NEEDS", {"swig": ("no-such-program-here", str(tmp_path / "nope"))})
    with pytest.raises(install.DiracInstallError, match="apt-get install swig"):
        install.ensure_dirac(tmp_path / "venv")
    assert not (tmp_path / "venv").exists()
