"""The JSON Schemas of steering files and facility files, made from their definitions, and checking against them.

Published in the repository (``workflows/schema/steering.schema.json``, ``facilities/schema/facility.schema.json``;
``python -m esap_catalog.domain.schemas`` rewrites them, a test keeps them current) so that editors and other
tools validate a file before the seed does. The seed checks every file against these schemas first (messages
name the field), then against the definitions' own rules (e.g. a default inside its range).
No I/O except in ``__main__``. Depends on jsonschema and the domain.
"""

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition

DIALECT = "https://json-schema.org/draft/2020-12/schema"
STEERING_PATH = Path("workflows/schema/steering.schema.json")
FACILITY_PATH = Path("facilities/schema/facility.schema.json")


def _schema(model: type[WorkflowDefinition | FacilityDefinition], title: str, ident: str) -> dict[str, Any]:
    body = model.model_json_schema(by_alias=True, mode="validation")
    body.pop("title", None)
    return {"$schema": DIALECT, "$id": ident, "title": title, **body}


def steering_schema() -> dict[str, Any]:
    return _schema(WorkflowDefinition, "esap-batch steering file (a workflow of the catalogue)",
                   "https://esap-batch/schema/steering.schema.json")


def facility_schema() -> dict[str, Any]:
    return _schema(FacilityDefinition, "esap-batch facility file", "https://esap-batch/schema/facility.schema.json")


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(steering_schema() if kind == "workflow" else facility_schema())


def schema_problems(kind: str, document: object) -> list[str]:
    """What in ``document`` breaks the published schema of ``kind`` (workflow or facility), naming each field."""
    problems = []
    for error in sorted(_validator(kind).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path = [str(part) for part in error.absolute_path]
        message = error.message
        if error.validator == "required":  # name the missing field itself, as the model's own errors do
            path.append(message.split("'")[1] if message.count("'") >= 2 else "")
            message = "Field required"
        where = ".".join(part for part in path if part)
        problems.append(f"field {where!r}: {message}" if where else message)
    return problems


def write_all(root: Path) -> list[Path]:
    written = []
    for path, schema in ((STEERING_PATH, steering_schema()), (FACILITY_PATH, facility_schema())):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(target)
    return written


if __name__ == "__main__":
    for written_path in write_all(Path.cwd()):
        sys.stdout.write(f"{written_path}\n")
