"""Steering and facility files: the published JSON Schemas are current, every file in the repository follows
them, and a broken file is refused with a message naming the field and the rule."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from esap_catalog.domain.schemas import FACILITY_PATH, STEERING_PATH, facility_schema, steering_schema
from esap_catalog.services.seeding import DefinitionError, load_directory, parse_facility, parse_workflow

REPO = Path(__file__).resolve().parents[4]


def concordia() -> dict[str, Any]:
    return dict(json.loads((REPO / "workflows" / "concordia.json").read_text()))


def refused(document: dict[str, Any]) -> str:
    with pytest.raises(DefinitionError) as caught:
        parse_workflow("workflows/concordia.json", json.dumps(document))
    return str(caught.value)


def test_the_published_schemas_are_current() -> None:
    assert json.loads((REPO / STEERING_PATH).read_text()) == steering_schema(), (
        "run: uv run python -m esap_catalog.domain.schemas")
    assert json.loads((REPO / FACILITY_PATH).read_text()) == facility_schema()


def test_every_repository_file_follows_the_published_schema() -> None:
    steering = Draft202012Validator(json.loads((REPO / STEERING_PATH).read_text()))
    facility = Draft202012Validator(json.loads((REPO / FACILITY_PATH).read_text()))
    for path in (REPO / "workflows").glob("*.json"):
        assert list(steering.iter_errors(json.loads(path.read_text()))) == [], path
    for path in (REPO / "facilities").glob("*.json"):
        assert list(facility.iter_errors(json.loads(path.read_text()))) == [], path


def test_the_catalogue_has_esaps_workflows_and_facilities() -> None:
    workflows = {w.slug: w for w in load_directory(REPO / "workflows", parse_workflow)}
    assert {"hello-world", "cta-mc-generation", "concordia"} <= set(workflows)
    assert workflows["concordia"].steering_file == "workflows/concordia.json"
    cta = {p.name: p for p in workflows["cta-mc-generation"].parameters}
    assert {"primary", "energy_min", "energy_max", "zenith", "azimuth", "showers", "seed", "layout"} <= set(cta)
    assert cta["energy_min"].unit == "TeV" and cta["seed"].required
    assert workflows["concordia"].runtime.image and workflows["cta-mc-generation"].runtime.image
    facilities = {f.slug: f for f in load_directory(REPO / "facilities", parse_facility)}
    assert set(facilities) == {"ctadirac", "local", "rosetta-inaf-oats"}
    assert facilities["rosetta-inaf-oats"].name == "Rosetta @ INAF OATS"
    assert all(ref.startswith("env:") for f in facilities.values() for ref in f.secrets.values())


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["parameters"][0].update(type="integr"), r"field 'parameters\.0\.type': 'integr' is not one of"),
    (lambda d: d["parameters"][9].pop("choices"), r"parameter 'HADRONIC_MODEL': a choice needs choices"),
    (lambda d: d["parameters"][0].update(default=99999), r"'PRMPAR': default '99999' must be at most 5626"),
    (lambda d: d["parameters"][1].update(minimum=10, maximum=1), r"'ERANGE_LOW': minimum is above maximum"),
    (lambda d: d["parameters"][5].update(choices=["a"]), r"'PHIP': choices belong to type choice only"),
    (lambda d: d["runtime"].update(engine="podman"), r"field 'runtime\.engine': 'podman' is not one of"),
    (lambda d: d["runtime"].pop("image"), r"the singularity runtime needs an image"),
    (lambda d: d.update(facility_types=["grid"]), r"facility_types: 'grid' is not one of local, dirac, diracx"),
    (lambda d: d.pop("slug"), r"field 'slug': Field required"),
    (lambda d: d.update(colour="blue"), r"Additional properties are not allowed \('colour'"),
])
def test_a_broken_steering_file_is_refused_naming_the_field(change: Any, expected: str) -> None:
    document = concordia()
    change(document)
    message = refused(document)
    assert message.startswith("workflows/concordia.json: ")
    assert re.search(expected, message), message


def test_a_facility_keeps_secrets_by_reference_only() -> None:
    data = json.loads((REPO / "facilities" / "ctadirac.json").read_text())
    data["secrets"]["api_key"] = "s3cr3t-value"
    with pytest.raises(DefinitionError, match=r"secrets\.api_key: must be a reference such as env:NAME"):
        parse_facility("ctadirac.json", json.dumps(data))
    data = json.loads((REPO / "facilities" / "local.json").read_text())
    data["status"] = "sleeping"
    with pytest.raises(DefinitionError, match=r"field 'status': 'sleeping' is not one of"):
        parse_facility("local.json", json.dumps(data))
