"""``esap-catalog seed``: read the workflow and facility definitions, validate them all, then upsert them.

Nothing is written unless every file is valid; a broken file is refused with its name and the field at fault.
Upserts are idempotent: seeding twice changes nothing, a changed file updates its row in place.
Depends on the domain and storage.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from esap_catalog.domain.catalogue import FacilityDefinition, WorkflowDefinition
from esap_catalog.domain.schemas import schema_problems
from esap_catalog.storage.catalogue import CatalogueStore, Upserted

Definition = TypeVar("Definition", bound=BaseModel)


class DefinitionError(Exception):
    """A definition file is missing, unreadable or invalid; the message names the file and the field."""


def parse_definition(model: type[Definition], name: str, text: str | bytes) -> Definition:
    """The file's definition: first checked against the published JSON Schema, then by the model's own rules."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{name}: not JSON ({exc})") from None
    problems = schema_problems("workflow" if model is WorkflowDefinition else "facility", document)
    if problems:
        raise DefinitionError(f"{name}: {'; '.join(problems)}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"field {where!r}: {error['msg']}" if where else error["msg"])
        raise DefinitionError(f"{name}: {'; '.join(problems)}") from None


def parse_workflow(name: str, text: str | bytes) -> WorkflowDefinition:
    """A steering file; unless it says otherwise, its ``steering_file`` is its own path (directory/name)."""
    workflow = parse_definition(WorkflowDefinition, name, text)
    if workflow.steering_file:
        return workflow
    return workflow.model_copy(update={"steering_file": "/".join(Path(name).parts[-2:])})


def parse_facility(name: str, text: str | bytes) -> FacilityDefinition:
    return parse_definition(FacilityDefinition, name, text)


def load_directory(directory: Path, parse: Callable[[str, bytes], Definition]) -> list[Definition]:
    """Every ``*.json`` file of ``directory``, parsed; slugs must be unique."""
    if not directory.is_dir():
        raise DefinitionError(f"{directory}: not a directory")
    found: dict[str, tuple[Path, Definition]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DefinitionError(f"{path}: cannot be read ({exc.strerror})") from None
        definition = parse(str(path), raw)
        slug = str(getattr(definition, "slug", ""))
        if slug in found:
            raise DefinitionError(f"{path}: field 'slug': {slug!r} is already defined by {found[slug][0]}")
        found[slug] = (path, definition)
    return [definition for _, definition in found.values()]


async def seed(store: CatalogueStore, workflows_dir: Path, facilities_dir: Path) -> dict[str, Upserted]:
    workflows = load_directory(workflows_dir, parse_workflow)
    facilities = load_directory(facilities_dir, parse_facility)
    return await store.upsert(workflows, facilities)
