"""scripts/pick-python, which chooses the interpreter of a new .venv: the quickest CPython 3.11+ on the machine.

The candidates here are stand-ins on a PATH of the test's own: each answers the script's two questions (which
interpreter it is, if 3.11+; how long the loop took) as a real one would, with a speed the test chooses."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pick-python"


def stand_in(directory: Path, name: str, *, seconds: float, modern: bool = True) -> Path:
    """An executable that reports itself as a CPython (3.11+ unless ``modern`` is False) whose loop takes
    ``seconds``."""
    path = directory / name
    identity = f'echo "{path}"' if modern else "exit 0"
    path.write_text(f"""#!/bin/sh
case "$2" in
  *sys.executable*) {identity} ;;
  *perf_counter*) echo "{seconds}" ;;
  *) exit 2 ;;
esac
""")
    path.chmod(0o755)
    return path


def pick(path: Path) -> subprocess.CompletedProcess[str]:
    # /usr/bin and /usr/local/bin are searched too; a machine's own interpreters there would take part.
    env = {**os.environ, "PATH": f"{path}:/bin"}
    return subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False,
                          timeout=60)


def test_the_quickest_modern_interpreter_wins(tmp_path: Path) -> None:
    # Stand-ins far quicker than any real interpreter, so that one in /usr/bin cannot win.
    stand_in(tmp_path, "python3", seconds=0.0009)
    quick = stand_in(tmp_path, "python3.12", seconds=0.0002)
    stand_in(tmp_path, "python3.13", seconds=0.0001, modern=False)  # quickest, but too old: not a candidate

    result = pick(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(quick)
