"""deploy/compose.yaml, checked offline: against the Compose Specification's JSON Schema (committed under
schemas/, see schemas/README.md), then for what a schema cannot see: references between services, files that
must exist, and environment variables that the services actually read."""

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.deploy.inventory import all_env_names, env_names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("catalog", "gateway", "submitter", "monitor")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert _schema_errors(compose) == []


def test_the_schema_check_catches_a_mistake(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["restart"] = ["always"]
    broken["services"]["gateway"]["helthcheck"] = {}

    assert len(_schema_errors(broken)) == 2


def test_every_part_of_the_system_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {*SERVICES, "postgres", "rabbitmq", "migrate", "seed", "prometheus", "grafana"}


def test_every_dependency_names_a_service_and_the_migration_runs_first(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["seed"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["catalog"]["depends_on"]["seed"]["condition"] == "service_completed_successfully"


def test_every_image_is_built_from_the_one_dockerfile_for_its_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        image = services[name]["image"]
        builder = next(s for s in services.values() if s.get("image") == image and "build" in s)
        assert builder["build"]["dockerfile"] == "deploy/Dockerfile"
        assert builder["build"]["args"] == {"SERVICE": name}
        assert (DEPLOY / builder["build"]["context"] / builder["build"]["dockerfile"]).is_file()
    assert services["migrate"]["image"] == services["seed"]["image"] == services["catalog"]["image"]


def test_every_bind_mount_exists_and_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"


def test_the_local_executor_shares_one_volume_and_only_the_submitter_writes_it(compose: dict[str, Any]) -> None:
    services = compose["services"]

    assert "jobs:/var/lib/esap/jobs" in services["submitter"]["volumes"]
    assert "jobs:/var/lib/esap/jobs:ro" in services["gateway"]["volumes"]
    assert "jobs:/var/lib/esap/jobs:ro" in services["monitor"]["volumes"]


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_given_to_a_service_is_one_it_reads(compose: dict[str, Any], name: str) -> None:
    environment = compose["services"][name]["environment"]
    own = env_names(name)

    for variable in environment:
        if variable.startswith("ESAP_"):
            assert variable in all_env_names(), f"no service reads {variable}"
        else:
            assert variable in own, f"{name} does not read {variable}"


def test_the_services_run_locked_down_and_never_with_the_guest_account(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        service = compose["services"][name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "guest" not in json.dumps(service["environment"]), name


def test_make_up_starts_this_file() -> None:
    makefile = (ROOT / "Makefile").read_text()

    assert re.search(r"^\.PHONY:.*\bup\b", makefile, re.MULTILINE)
    assert re.search(r"^up:\n\t.*docker compose -f deploy/compose\.yaml up --build$", makefile, re.MULTILINE)
