#!/usr/bin/env bash
# Install DiracX 0.7.0 into var/diracx-venv (once; its own virtualenv, not the project's) and run a development
# DiracX on loopback with moto S3 until Ctrl-C. Prints the ESAP_DIRACX_* exports for the submitter and monitor.
# Options: --port P (default 8010), --state DIR (default var/diracx), --venv DIR (default var/diracx-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="$(command -v uv 2>/dev/null || echo "python3 -m uv")"
exec $UV run --frozen python -m esap_backends.diracx.devserver "$@"
