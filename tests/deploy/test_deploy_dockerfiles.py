"""The services' Dockerfile and the build context, checked without a Docker engine: one Dockerfile whose build
argument SERVICE names the service, two slim stages, the locked dependencies installed by uv without development
tools, a non-root user, a health check on the service's own /healthz, production settings, and an entry point
that the service's package declares.

The image of a service is read as BuildKit builds it with ``--build-arg SERVICE=<name>``: the build stage, the
runtime stage, the stage all services share, the service's own stage and the last one (``FROM ${SERVICE}``), with
``${SERVICE}`` replaced. A setting is read as the service reads it: its own prefix, else the common ESAP_ one."""

import re
import tomllib
from pathlib import Path

import pytest
from tests.deploy.inventory import all_env_names, env_names

from esap_runtime.stack import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SERVICES = tuple(DEFAULT_PORTS)

Step = tuple[str, str]


def _steps() -> list[Step]:
    """(INSTRUCTION, arguments) of the whole file, continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def _stages() -> tuple[list[Step], list[tuple[str, list[Step]]]]:
    """The steps before the first FROM, and each stage as (its name, or "" for the last, and its steps)."""
    preamble: list[Step] = []
    stages: list[tuple[str, list[Step]]] = []
    for step in _steps():
        if step[0] == "FROM":
            stages.append((step[1].split(" AS ")[1] if " AS " in step[1] else "", [step]))
        elif stages:
            stages[-1][1].append(step)
        else:
            preamble.append(step)
    return preamble, stages


def _instructions(name: str) -> list[Step]:
    """The steps the image of ``name`` is built from, stage by stage, with ``${SERVICE}`` replaced by ``name``."""
    named = dict(_stages()[1])
    chain = ["build", "runtime", "service", name, ""]
    return [(instruction, arguments.replace("${SERVICE}", name)) for stage in chain for instruction, arguments
            in named[stage]]


def _env(name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for instruction, arguments in _instructions(name):
        if instruction == "ENV":
            pairs.update(re.findall(r"(\w+)=(\S+)", arguments))
    return pairs


def _setting(name: str, field: str) -> str | None:
    """The value the image gives the service's setting ``field``: its own prefix wins over ESAP_."""
    env = _env(name)
    return env.get(f"{name.upper()}_{field}", env.get(f"ESAP_{field}"))


@pytest.mark.parametrize("name", SERVICES)
def test_the_image_is_built_in_two_slim_stages_with_the_locked_dependencies(name: str) -> None:
    steps = _instructions(name)
    stages = [args for instruction, args in steps if instruction == "FROM"]
    runs = " ".join(args for instruction, args in steps if instruction == "RUN")

    assert stages == ["python:3.11-slim AS build", "python:3.11-slim AS runtime", "runtime AS service",
                      f"service AS {name}", name]
    assert re.search(r"pip install --no-cache-dir \"uv==", runs)
    assert f"uv sync --frozen --no-dev --no-editable --package esap-{name}" in runs
    assert ("COPY", "--from=build /app/.venv /app/.venv") in steps


def test_one_dockerfile_builds_every_service_named_by_its_build_argument() -> None:
    preamble, stages = _stages()
    names = [stage for stage, _ in stages]
    build = dict(stages)["build"]

    assert ("ARG", "SERVICE") in preamble  # before the first FROM: the last FROM may use it
    assert ("ARG", "SERVICE") in build  # and again in the build stage, which installs the service's package
    assert names[:3] == ["build", "runtime", "service"] and names[-1] == ""
    assert sorted(names[3:-1]) == sorted(SERVICES)
    assert stages[-1][1] == [("FROM", "${SERVICE}")]
    for name in SERVICES:
        assert dict(stages)[name][0] == ("FROM", f"service AS {name}")
    assert not list(ROOT.glob("services/*/Dockerfile")), "a service's own Dockerfile would be a second copy"


@pytest.mark.parametrize("name", SERVICES)
def test_the_image_runs_its_service_as_a_non_root_user(name: str) -> None:
    steps = _instructions(name)
    users = [args for instruction, args in steps if instruction == "USER"]
    scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = next(args for instruction, args in steps if instruction == "ENTRYPOINT")

    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert entrypoint == f'["esap-{name}"]' and f"esap-{name}" in scripts


@pytest.mark.parametrize("name", SERVICES)
def test_the_image_checks_its_health_and_listens_for_others(name: str) -> None:
    steps = _instructions(name)
    port = DEFAULT_PORTS[name]
    healthcheck = next(args for instruction, args in steps if instruction == "HEALTHCHECK")
    env = _env(name)

    # Shell form: the shell expands the variable when the check runs, in the image's environment.
    assert not healthcheck.split("CMD", 1)[1].lstrip().startswith("[")
    assert "http://127.0.0.1:${ESAP_HTTP_PORT}/healthz" in healthcheck and env["ESAP_HTTP_PORT"] == str(port)
    assert ("EXPOSE", str(port)) in steps
    assert env["ESAP_ENVIRONMENT"] == "production"
    assert _setting(name, "HTTP_HOST") == "0.0.0.0"
    assert _setting(name, "HTTP_PORT") == str(port)


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_an_image_sets_is_one_its_service_reads(name: str) -> None:
    settings = {v for v in _env(name) if v.startswith(("ESAP_", f"{name.upper()}_"))}

    assert settings <= env_names(name) | all_env_names()
    assert settings - {v for v in settings if v.startswith("ESAP_")} <= env_names(name)


def test_the_catalog_image_ships_the_definitions_it_seeds() -> None:
    steps = _instructions("catalog")

    assert ("COPY", "workflows/ /app/workflows/") in steps
    assert ("COPY", "facilities/ /app/facilities/") in steps
    assert _setting("catalog", "WORKFLOWS_DIR") == "/app/workflows"


def test_the_build_context_holds_what_the_images_copy() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}

    assert "**" in ignore  # everything is left out unless named
    assert {"pyproject.toml", "uv.lock", "libs", "services", "workflows", "facilities"} <= kept
    for name in SERVICES:
        for instruction, arguments in _instructions(name):
            if instruction == "COPY" and not arguments.startswith("--from"):
                for source in arguments.split()[:-1]:
                    assert source.split("/")[0] in kept, f"{name}: COPY {source} is outside the build context"
