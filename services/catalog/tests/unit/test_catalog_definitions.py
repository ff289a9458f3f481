"""Workflow and facility definitions: valid files parse, broken ones are refused naming the field."""

import json
from pathlib import Path

import pytest

from esap_catalog.services.seeding import DefinitionError, parse_facility, parse_workflow

REPO = Path(__file__).resolve().parents[4]


def test_the_repository_definitions_parse() -> None:
    hello = parse_workflow("hello-world.json", (REPO / "workflows" / "hello-world.json").read_text())
    assert hello.slug == "hello-world" and hello.run.command == ("python3", "helloworld.py")
    assert hello.to_spec().defaults["Parameter3"] == "33"
    local = parse_facility("local.json", (REPO / "facilities" / "local.json").read_text())
    assert local.to_spec().backend == "local"


def test_a_broken_workflow_names_file_and_field() -> None:
    data = json.loads((REPO / "workflows" / "hello-world.json").read_text())
    data["run"]["command"] = []
    with pytest.raises(DefinitionError, match=r"broken\.json: field 'run\.command'"):
        parse_workflow("broken.json", json.dumps(data))
    data = json.loads((REPO / "facilities" / "local.json").read_text())
    data["max_parallel"] = 0
    with pytest.raises(DefinitionError, match=r"f\.json: field 'max_parallel'"):
        parse_facility("f.json", json.dumps(data))
    with pytest.raises(DefinitionError, match=r"^bad\.json: "):
        parse_facility("bad.json", "{not json")


def test_duplicate_parameter_names_are_refused() -> None:
    data = json.loads((REPO / "workflows" / "sleep.json").read_text())
    data["parameters"] *= 2
    with pytest.raises(DefinitionError, match="seconds"):
        parse_workflow("sleep.json", json.dumps(data))

