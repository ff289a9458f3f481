"""`make run`: migrate and seed the catalog, start the four services, print the gateway URL, stop on Ctrl-C.

Every setting has an embedded development default; override any of them through the environment
(ESAP_AMQP_URL, CATALOG_DATABASE_URL, ...), see README.md.
"""

import os
import signal
import sys
import threading
from pathlib import Path

from esap_runtime.stack import Stack, StackError

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    os.chdir(ROOT)
    env = {"ESAP_ENVIRONMENT": os.environ.get("ESAP_ENVIRONMENT", "development")}
    chosen = ("ESAP_DIRACX_URL", "SUBMITTER_DIRACX_URL", "GATEWAY_DEFAULT_FACILITY")
    if not any(os.environ.get(name) for name in chosen):
        # On its embedded defaults only the local executor can run jobs: a job sent without a facility goes there
        # rather than to a DIRAC facility this deployment has no connection for.
        env["GATEWAY_DEFAULT_FACILITY"] = "local"
    stack = Stack(env=env)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        sys.stderr.write("Migrating and seeding the catalog...\n")
        stack.setup()
        sys.stderr.write("Starting catalog, gateway, submitter, monitor...\n")
        stack.start()
    except StackError as exc:
        sys.stderr.write(f"esap-batch could not start: {exc}\n")
        stack.stop()
        return 1
    sys.stdout.write(
        f"\nesap-batch is running. Gateway: {stack.gateway_url}/uws/jobs\n"
        f"Try: curl -si -X POST {stack.gateway_url}/uws/jobs -d workflow=hello-world -d facility=local "
        "-d Parameter1=999 -d PHASE=RUN\nCtrl-C stops every service.\n\n"
    )
    sys.stdout.flush()
    while not stopping.wait(0.5):
        for name, service in stack.services.items():
            if service.process is not None and service.process.poll() is not None:
                sys.stderr.write(f"{name} exited with {service.process.returncode}; stopping the others.\n")
                stopping.set()
    sys.stderr.write("Stopping...\n")
    codes = stack.stop()
    unclean = {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}
    sys.stderr.write(f"Stopped, not cleanly: {unclean}\n" if unclean else "Stopped.\n")
    return 1 if unclean else 0


if __name__ == "__main__":
    sys.exit(main())
