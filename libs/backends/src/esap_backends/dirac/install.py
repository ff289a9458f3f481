"""Installs classic DIRAC into a virtualenv of its own (``var/dirac-venv``): ``python -m esap_backends.dirac.install``.

DIRAC cannot join the project's locked environment: one of its requirements, gfal2-python, does not build here,
and DIRAC brings its own pins. So this module makes a virtualenv with the machine's python3, downloads the pinned
DIRAC wheel, installs every requirement its metadata lists (``Requires-Dist``, markers honoured, extras left out)
except the ones in SKIPPED, then DIRAC itself with ``--no-deps``. M2Crypto builds from source and needs ``swig``
and the OpenSSL headers (Debian: swig, libssl-dev); ``--apt`` installs the missing ones with apt-get. A stamp file
holding the version makes a second run a no-op. Depends on the standard library only (packaging, if present, for
markers).
"""

import argparse
import email.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

DIRAC_VERSION = "9.1.22"
SKIPPED = frozenset({"gfal2-python"})  # grid storage access: not needed to submit, and it does not build here
STAMP = ".esap-dirac"
DEFAULT_VENV = Path("var/dirac-venv")
# Debian packages M2Crypto needs to build, by the program or header that shows they are there.
BUILD_NEEDS = {"swig": ("swig", "/usr/bin/swig"), "libssl-dev": ("", "/usr/include/openssl/ssl.h"),
               "gcc": ("gcc", "/usr/bin/gcc")}


class DiracInstallError(RuntimeError):
    """DIRAC could not be installed."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def is_installed(venv: Path, version: str = DIRAC_VERSION) -> bool:
    stamp = venv / STAMP
    return venv_python(venv).exists() and stamp.exists() and stamp.read_text().strip() == version


def ensure_dirac(venv: Path = DEFAULT_VENV, *, version: str = DIRAC_VERSION, python: str | None = None,
                 apt: bool = False) -> Path:
    """The python of a virtualenv holding DIRAC ``version``; installs it unless the stamp says it is there."""
    venv = venv.resolve()
    if is_installed(venv, version):
        _say(f"DIRAC {version} is already installed in {venv}")
        return venv_python(venv)
    started = time.monotonic()
    _check_build_needs(apt)
    shutil.rmtree(venv, ignore_errors=True)
    base = python or shutil.which("python3") or sys.executable
    _run([base, "-m", "venv", str(venv)], "create the virtualenv")
    interpreter = venv_python(venv)
    _run([str(interpreter), "-m", "pip", "install", "--quiet", "--upgrade", "pip", "packaging"], "update pip")
    with tempfile.TemporaryDirectory(prefix="esap-dirac-") as tmp:
        _run([str(interpreter), "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp,
              f"DIRAC=={version}"], f"download DIRAC {version}")
        wheel = next(Path(tmp).glob("*.whl"), None)
        if wheel is None:
            raise DiracInstallError(f"pip downloaded no wheel of DIRAC {version}")
        requirements = wanted_requirements(_requires_dist(wheel), interpreter)
        _say(f"installing {len(requirements)} requirements of DIRAC (without {', '.join(sorted(SKIPPED))})")
        _run([str(interpreter), "-m", "pip", "install", "--quiet", *requirements], "install DIRAC's requirements")
        _run([str(interpreter), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], "install DIRAC")
    _run([str(interpreter), "-c", "import DIRAC.Interfaces.API.Job"], "import DIRAC's Job API")
    (venv / STAMP).write_text(version + "\n")
    _say(f"DIRAC {version} installed in {venv} in {time.monotonic() - started:.0f} s")
    return interpreter


def wanted_requirements(requires_dist: list[str], interpreter: Path) -> list[str]:
    """The requirements to install: markers evaluated by the target python (extras are not asked for)."""
    script = ("import json, sys\nfrom packaging.requirements import Requirement\nout = []\n"
              "for line in json.load(sys.stdin):\n    r = Requirement(line)\n"
              "    if r.marker is None or r.marker.evaluate({'extra': ''}):\n        out.append([r.name, line])\n"
              "print(json.dumps(out))\n")
    done = subprocess.run([str(interpreter), "-c", script], input=json.dumps(requires_dist), text=True,
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise DiracInstallError(f"could not read DIRAC's requirements: {done.stderr.strip()[-2000:]}")
    kept: list[str] = []
    for name, line in json.loads(done.stdout):
        if _normal(name) in {_normal(s) for s in SKIPPED}:
            continue
        kept.append(line.split(";", 1)[0].strip())
    return kept


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            raise DiracInstallError(f"{wheel.name} has no METADATA")
        metadata = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    return [str(line) for line in metadata.get_all("Requires-Dist") or []]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _check_build_needs(apt: bool) -> None:
    missing = [pkg for pkg, (program, path) in BUILD_NEEDS.items()
               if not Path(path).exists() and not (program and shutil.which(program))]
    if not missing:
        return
    if not apt:
        raise DiracInstallError(f"M2Crypto (a DIRAC requirement) builds from source and needs the Debian "
                                f"packages {' '.join(missing)}: apt-get install {' '.join(missing)}, or pass --apt")
    _say(f"installing the Debian packages {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-qq"], "update the apt package lists", env=env)
    _run(["apt-get", "install", "-y", "-qq", *missing], f"install {' '.join(missing)}", env=env)


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    _say(f"{what} ...")
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise DiracInstallError(f"could not {what} (exit {done.returncode}): {output[-4000:]}")


def _say(text: str) -> None:
    sys.stderr.write(f"dirac-install: {text}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="virtualenv to install into")
    parser.add_argument("--version", default=DIRAC_VERSION, help="DIRAC version (tested: the default)")
    parser.add_argument("--python", default=None, help="python that makes the virtualenv (default: python3)")
    parser.add_argument("--apt", action="store_true", help="apt-get install missing build packages (root)")
    args = parser.parse_args(argv)
    try:
        ensure_dirac(args.venv, version=args.version, python=args.python, apt=args.apt)
    except DiracInstallError as exc:
        _say(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
