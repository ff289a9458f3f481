"""Validation first: every parameter type's rule is checked before anything is published, and a bad value is a
400 naming the parameter and the rule it breaks."""

from urllib.parse import urlencode

import httpx
import pytest

from esap_messages.api import ParameterView

from ..conftest import FakeCatalog, FakePublisher, workflow

FORM = {"content-type": "application/x-www-form-urlencoded"}

SIMULATION = workflow("simulation", [
    ParameterView(name="showers", type="integer", minimum=1, maximum=1000, required=True),
    ParameterView(name="energy", type="number", minimum=0.003, maximum=330, unit="TeV", default="1"),
    ParameterView(name="diffuse", type="boolean", default="false"),
    ParameterView(name="primary", type="choice", choices=["gamma", "proton"], default="gamma"),
    ParameterView(name="card", type="file"),
    ParameterView(name="label", type="string", default="run"),
])


@pytest.fixture(autouse=True)
def simulation_workflow(catalog: FakeCatalog) -> None:
    catalog.workflows["simulation"] = SIMULATION


async def create(client: httpx.AsyncClient, **parameters: str) -> httpx.Response:
    return await client.post("/uws/jobs", content=urlencode({"WORKFLOW": "simulation", **parameters}),
                             headers=FORM)


@pytest.mark.parametrize(("parameters", "message"), [
    ({"showers": "ten"}, "showers: must be an integer, not 'ten'"),
    ({"showers": "0"}, "showers: must be at least 1, not 0"),
    ({"showers": "1001"}, "showers: must be at most 1000, not 1001"),
    ({"showers": "5", "energy": "a lot"}, "energy: must be a number, not 'a lot'"),
    ({"showers": "5", "energy": "400"}, "energy: must be at most 330 TeV, not 400"),
    ({"showers": "5", "energy": "nan"}, "energy: must be a finite number, not 'nan'"),
    ({"showers": "5", "diffuse": "maybe"}, "diffuse: must be true or false, not 'maybe'"),
    ({"showers": "5", "primary": "iron"}, "primary: must be one of gamma, proton, not 'iron'"),
    ({"showers": "5", "card": "../../etc/passwd"}, "card: must be an http(s) URL or a relative path"),
    ({"showers": "5", "card": "/etc/passwd"}, "card: must be an http(s) URL or a relative path"),
    ({}, "showers: required by workflow 'simulation'"),
    ({"showers": "5", "colour": "blue"}, "colour: not a parameter of workflow 'simulation'"),
])
async def test_a_bad_value_is_refused_naming_parameter_and_rule(client: httpx.AsyncClient,
                                                                 publisher: FakePublisher,
                                                                 parameters: dict[str, str], message: str) -> None:
    response = await create(client, **parameters)
    assert response.status_code == 400
    assert message in response.text
    assert publisher.published == []


async def test_good_values_of_every_type_are_accepted(client: httpx.AsyncClient, publisher: FakePublisher) -> None:
    response = await create(client, showers="1000", energy="0.003", diffuse="YES", primary="proton",
                            card="https://example.org/card.inp", label="anything at all")
    assert response.status_code == 303, response.text
    [command] = publisher.published
    assert command.parameters == {"showers": "1000", "energy": "0.003", "diffuse": "YES", "primary": "proton",
                                  "card": "https://example.org/card.inp", "label": "anything at all"}


def test_a_parameter_schema_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="a choice needs choices"):
        ParameterView(name="p", type="choice")
    with pytest.raises(ValueError, match="minimum is above maximum"):
        ParameterView(name="p", type="integer", minimum=2, maximum=1)
    with pytest.raises(ValueError, match="default '7' must be at most 5"):
        ParameterView(name="p", type="integer", maximum=5, default=7)
    assert ParameterView(name="p", type="boolean", default=True).default == "true"


@pytest.mark.parametrize("parameters", [
    {"showers": "5", "label": "\U0001f52d" * 65536},  # one value of 256 KiB in UTF-8
    {"showers": "5", "label": "x" * 20000, "card": "y" * 20000},  # two values, each acceptable alone
], ids=["one-huge-value", "two-large-values"])
async def test_parameters_beyond_what_every_facility_takes_together_are_a_400_naming_the_limit(
    client: httpx.AsyncClient, publisher: FakePublisher, parameters: dict[str, str]
) -> None:
    response = await create(client, **parameters)

    assert response.status_code == 400
    assert response.text.startswith("parameters: ") and "32768" in response.text
    assert "/" not in response.text.split(":", 1)[1]
    assert publisher.published == []


async def test_parameters_within_the_limit_together_are_taken(client: httpx.AsyncClient,
                                                              publisher: FakePublisher) -> None:
    response = await create(client, showers="5", label="x" * 16000, card="y" * 16000)

    assert response.status_code == 303
