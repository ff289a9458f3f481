#!/usr/bin/env bash
# Install classic DIRAC (pinned 9.1.x) into var/dirac-venv, its own virtualenv (once; a stamp file remembers it).
# Options: --venv DIR, --version V, --python PY, --apt (apt-get install swig and the OpenSSL headers if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="$(command -v uv 2>/dev/null || echo "python3 -m uv")"
exec $UV run --frozen python -m esap_backends.dirac.install "$@"
