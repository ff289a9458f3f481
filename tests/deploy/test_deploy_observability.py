"""The operators' view, checked offline: the Grafana dashboards (as generated, provisioned, laid out) and the
Prometheus configuration and alert rules. Every query must parse and select only metrics that exist: the services'
registries, RabbitMQ's per-object metrics, Prometheus' own `up`."""

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from tests.deploy.inventory import grafana_to_promql, known_metrics, metric_names, service_metrics, unknown_metrics

from esap_runtime.stack import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus" / "rules" / "esap-alerts.yml"
KNOWN = known_metrics()
DURATION = re.compile(r"^\d+[smhd]$")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("esap_dashboards", DEPLOY / "grafana" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def _queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
        assert match, f"variable {variable['name']}: unexpected query {query}"
        found.append((f"variable {variable['name']}", match.group(1)))
    return found


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_the_metric_check_catches_a_name_that_does_not_exist() -> None:
    assert unknown_metrics("sum(rate(gateway_jobs_submited_total[5m]))", KNOWN) == {"gateway_jobs_submited_total"}
    assert unknown_metrics("sum(rate(gateway_jobs_submitted_total[5m]))", KNOWN) == set()
    assert metric_names('{__name__="up", job="x"} + on() vector(1)') == {"up"}


def test_every_service_exposes_its_bus_and_http_metrics() -> None:
    for service, names in service_metrics().items():
        assert f"{service}_http_request_duration_seconds_bucket" in names
        assert f"{service}_messages_published_total" in names
        assert f"{service}_messages_dead_lettered_total" in names


def test_the_committed_dashboards_are_the_generated_ones() -> None:
    rendered = _generator().render()

    assert set(rendered) == {p.name for p in DASHBOARDS.glob("*.json")}, "run python deploy/grafana/dashboards.py"
    for name, text in rendered.items():
        assert (DASHBOARDS / name).read_text() == text, f"{name} is stale: run python deploy/grafana/dashboards.py"


def test_the_three_dashboards_are_there() -> None:
    uids = {board["uid"] for board in _dashboards().values()}

    assert uids == {"esap-overview", "esap-backends", "esap-bus"}


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARDS.glob("*.json")))
def test_every_dashboard_query_uses_metrics_that_exist(name: str) -> None:
    board = _dashboards()[name]

    for title, expr in _queries(board):
        missing = unknown_metrics(grafana_to_promql(expr), KNOWN)
        assert not missing, f"{name}, {title}: {sorted(missing)} do not exist"


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARDS.glob("*.json")))
def test_every_dashboard_panel_is_laid_out_and_bound_to_the_provisioned_datasource(name: str) -> None:
    board = _dashboards()[name]
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    uid = datasource["datasources"][0]["uid"]
    cells: set[tuple[int, int]] = set()

    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
            assert all(t["datasource"]["uid"] == uid and t["expr"] for t in panel["targets"]), panel["title"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])


def test_grafana_provisioning_loads_the_dashboards_directory_that_compose_mounts() -> None:
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/esap.yaml").read_text())["providers"][0]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]

    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_every_alert_rule_is_complete() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]

    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert "for" not in rule or DURATION.match(rule["for"]), rule["alert"]


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_every_alert_uses_metrics_that_exist(rule: dict[str, Any]) -> None:
    missing = unknown_metrics(rule["expr"], KNOWN)

    assert not missing, f"{rule['alert']}: {sorted(missing)} do not exist"


def test_the_alerts_cover_stuck_jobs_dead_letters_backend_errors_and_queues_without_consumers() -> None:
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in _rules()}

    assert {"monitor_jobs_tracked", "monitor_status_changes_total"} <= used["EsapJobsStuck"]
    assert "catalog_outbox_pending" in used["EsapOutboxStuck"]
    assert "catalog_messages_dead_lettered_total" in used["EsapMessagesDeadLettered"]
    assert "rabbitmq_queue_messages" in used["EsapDeadLetterQueueNotEmpty"]
    assert "monitor_backend_calls_total" in used["EsapBackendStatusErrors"]
    assert "submitter_submissions_total" in used["EsapSubmissionsFailing"]
    assert "rabbitmq_queue_consumers" in used["EsapQueueWithoutConsumers"]


def test_prometheus_scrapes_every_service_and_rabbitmq_and_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())

    for service, port in DEFAULT_PORTS.items():
        assert jobs[f"esap-{service}"]["static_configs"][0]["targets"] == [f"{service}:{port}"]
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics/per-object"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in compose["services"]["prometheus"]["volumes"]
