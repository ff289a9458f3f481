"""The committed AsyncAPI document of the bus (libs/messages/asyncapi.json): regenerated from libs/messages and
compared, and validated against the AsyncAPI 3.0.0 JSON Schema (committed under schemas/, see its README)."""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

from esap_messages.asyncapi import DOCUMENT_PATH, render

SCHEMA = Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json"


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_committed_document_is_regenerated_unchanged() -> None:
    assert DOCUMENT_PATH.read_text() == render(), "run `python -m esap_messages.asyncapi` and commit the result"


def test_the_document_is_valid_asyncapi() -> None:
    assert _errors(json.loads(DOCUMENT_PATH.read_text())) == []


def test_the_validation_catches_a_broken_binding() -> None:
    document = copy.deepcopy(json.loads(DOCUMENT_PATH.read_text()))
    document["channels"]["queue-catalog"]["bindings"]["amqp"]["is"] = "exchange-ish"

    assert _errors(document)
