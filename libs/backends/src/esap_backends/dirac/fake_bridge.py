"""A stand-in for the DIRAC bridge (standard library only): speaks the same JSON lines, and does what a script
file tells it. Usage: ``python fake_bridge.py SCRIPT.json LOG.jsonl``.

The script maps an operation to a list of behaviours, used in turn across restarts (the last one repeats):
``{"value": V}`` answers V, ``{"error": {...}}`` answers that error, ``{"sleep": S, ...}`` waits S seconds
first, ``{"hang": true}`` never answers, ``{"die": N}`` exits with code N, ``{"echo": true}`` answers the
request's args, ``{"files": {NAME: BASE64}, ...}`` first writes those files into the request's ``directory``
(as the real bridge downloads archives there). Every request is appended to the log file, one JSON line each, so
tests can count calls.
``{"not_ready": "why"}`` under the key ``"_start"`` makes it refuse to start, ``{"sleep": S}`` start late.
"""

import base64
import json
import os
import sys
import threading
import time
from typing import Any

with open(sys.argv[1]) as script_file:
    script = json.load(script_file)
log_path = sys.argv[2]
lock = threading.Lock()


def write(answer: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def behaviour(op: str, turn: int) -> dict[str, Any]:
    steps = script.get(op) or [{"echo": True}]
    step: dict[str, Any] = steps[min(turn, len(steps) - 1)]
    return step


def earlier(op: str) -> int:
    """Requests for ``op`` so far, by every fake bridge process of this test: turns survive a restart."""
    if not os.path.exists(log_path):
        return 0
    with open(log_path) as log:
        return sum(1 for line in log if json.loads(line)["op"] == op)


def handle(request: dict[str, Any], turn: int) -> None:
    step = behaviour(request["op"], turn)
    time.sleep(step.get("sleep", 0))
    if step.get("hang"):
        time.sleep(3600)
    if "die" in step:
        sys.stderr.write("fake bridge dying\n")
        sys.stderr.flush()
        os._exit(step["die"])
    for name, data in step.get("files", {}).items():
        os.makedirs(request["args"]["directory"], exist_ok=True)
        with open(os.path.join(request["args"]["directory"], name), "wb") as written:
            written.write(base64.b64decode(data))
    if "error" in step:
        write({"id": request["id"], "ok": False, "error": step["error"]})
    elif step.get("echo"):
        write({"id": request["id"], "ok": True, "value": request["args"]})
    else:
        write({"id": request["id"], "ok": True, "value": step.get("value")})


start = script.get("_start", {})
if "not_ready" in start:
    write({"ready": False, "error": start["not_ready"]})
    sys.exit(2)
time.sleep(start.get("sleep", 0))
write({"ready": True, "dirac_version": "fake", "pid": os.getpid()})
for line in sys.stdin:
    request = json.loads(line)
    turn = earlier(request["op"])
    with open(log_path, "a") as log:
        log.write(json.dumps({"pid": os.getpid(), **request}) + "\n")
    threading.Thread(target=handle, args=(request, turn), daemon=True).start()
