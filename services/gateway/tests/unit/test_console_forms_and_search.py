"""The console's pure parts: forms made from parameter schemas, the catalogue search, the PKCE challenge."""

import base64
import hashlib

from esap_gateway.console.catalogue import facilities_for, search
from esap_gateway.console.forms import check_values, form_values, to_field
from esap_gateway.console.oidc import SignInAttempt, new_attempt
from esap_messages.api import FacilityView, ParameterView, WorkflowView
from esap_messages.model import WorkflowRun


def _workflow(slug: str, keywords: list[str], types: list[str]) -> WorkflowView:
    return WorkflowView(slug=slug, name=slug.title(), description=f"about {slug}", keywords=keywords, version="1",
                        workflow_type="process", parameters=[], run=WorkflowRun(slug=slug, command=("true",)),
                        facility_types=types)


def _facility(slug: str, kind: str, engines: list[str]) -> FacilityView:
    return FacilityView(slug=slug, name=slug, description="", url="", facility_type=kind, backend=kind,
                        runtime_engines=engines, max_parallel=1, status="online")


def test_choice_becomes_a_select_and_boolean_a_checkbox() -> None:
    choice = to_field(ParameterView(name="band", type="choice", choices=["u", "g"], default="g"))
    assert choice.kind == "select" and choice.choices == ["u", "g"] and choice.value == "g"
    assert to_field(ParameterView(name="flag", type="boolean")).kind == "checkbox"


def test_number_limits_become_input_attributes() -> None:
    field = to_field(ParameterView(name="energy", type="number", minimum=0.1, maximum=300, unit="TeV"))
    assert field.kind == "number" and field.unit == "TeV"
    assert field.attributes == {"step": "any", "min": "0.1", "max": "300.0"}


def test_server_checks_limits_choices_and_required_values() -> None:
    parameters = [ParameterView(name="n", type="integer", minimum=1, maximum=3),
                  ParameterView(name="band", type="choice", choices=["u", "g"]),
                  ParameterView(name="name", required=True)]
    problems = check_values(parameters, {"n": "7", "band": "z"})
    assert len(problems) == 3 and all(any(p.startswith(n) for p in problems) for n in ("n", "band", "name"))
    assert check_values(parameters, {"n": "2", "band": "u", "name": "x"}) == []


def test_unchecked_boxes_are_false() -> None:
    parameters = [ParameterView(name="flag", type="boolean"), ParameterView(name="text")]
    assert form_values(parameters, [("p.text", "a"), ("other", "b")]) == {"flag": "false", "text": "a"}


def test_search_needs_every_word_somewhere() -> None:
    workflows = [_workflow("hello-world", ["example"], ["local"]), _workflow("corsika", ["cta"], ["dirac"])]
    facilities = [_facility("local", "local", ["process"]), _facility("rosetta", "rosetta", ["singularity"])]
    found = search(workflows, facilities, "Example HELLO")
    assert [w.slug for w in found.workflows] == ["hello-world"] and found.facilities == []
    assert [f.slug for f in search(workflows, facilities, "singularity").facilities] == ["rosetta"]
    assert len(search(workflows, facilities, "process").workflows) == 2  # the workflows' runtime engine
    assert len(search(workflows, facilities, "").workflows) == 2
    assert [f.slug for f in facilities_for(workflows[1], facilities)] == []


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    attempt = new_attempt()
    assert attempt.state != attempt.verifier and 43 <= len(attempt.verifier) <= 128
    digest = hashlib.sha256(b"verifier-of-forty-three-characters-at-least").digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert SignInAttempt("s", "verifier-of-forty-three-characters-at-least").challenge == expected
