"""JSON Schema snapshots of every message, committed under ``schemas/`` so that changes are seen.

Run as ``python -m esap_messages.schemas`` to rewrite the snapshots.
"""

import json
import sys
from pathlib import Path
from typing import Any

from esap_messages.base import Message
from esap_messages.registry import MESSAGE_TYPES

SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def snapshot(cls: type[Message]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    return {"type": cls.type_name(), "schema_version": cls.schema_version, "routing_key": cls.routing_key,
            "schema": schema}


def write_all(directory: Path = SNAPSHOT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cls in sorted(MESSAGE_TYPES.items()):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(snapshot(cls), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        sys.stdout.write(f"{path}\n")
