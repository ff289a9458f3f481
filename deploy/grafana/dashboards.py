"""The Grafana dashboards of esap-batch, as code: ``python deploy/grafana/dashboards.py`` rewrites
``deploy/grafana/dashboards/*.json``, which Grafana loads through ``provisioning/dashboards/esap.yaml``.

Three dashboards: an overview (throughput, phases, errors, latencies), the job backends (DIRAC and the local
executor: status calls, errors, poll cycles, submissions, kills) and the message bus (queue depths from RabbitMQ's
Prometheus endpoint, per-object metrics; messages published, consumed, redelivered, retried, dead-lettered).
Queries use only metrics the services and RabbitMQ expose; tests/deploy checks every one of them.
Depends on the standard library only.
"""

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SERVICES = ("gateway", "catalog", "submitter", "monitor")
CONSUMERS = ("catalog", "submitter", "monitor")
RATE = "$__rate_interval"
OPS_ROUTES = 'route!~"/metrics|/healthz"'
MAIN_QUEUES = '.+\\\\.(catalog|submitter|monitor)'

Target = tuple[str, str]


class Board:
    """Lays panels out left to right, top to bottom, on Grafana's 24-column grid."""

    def __init__(self, uid: str, title: str, description: str, variables: list[dict[str, Any]] | None = None):
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables or []
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = self._row_height = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y}, "id": len(self.panels) + 1})
        self._y += 1

    def add(self, title: str, targets: list[Target], *, unit: str = "short", kind: str = "timeseries",
            width: int = 12, height: int = 8, description: str = "", stack: bool = False) -> None:
        if self._x + width > 24:
            self._newline()
        panel: dict[str, Any] = {
            "id": len(self.panels) + 1, "type": kind, "title": title, "description": description,
            "datasource": DATASOURCE, "gridPos": {"h": height, "w": width, "x": self._x, "y": self._y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
                         **({"instant": True, "range": False} if kind in ("stat", "bargauge") else {})}
                        for i, (expr, legend) in enumerate(targets)],
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
            if kind == "timeseries" else {"reduceOptions": {"calcs": ["lastNotNull"]}},
        }
        if stack:
            panel["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "fillOpacity": 30}
        self.panels.append(panel)
        self._x += width
        self._row_height = max(self._row_height, height)

    def _newline(self) -> None:
        self._y += self._row_height
        self._x = self._row_height = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "tags": ["esap-batch"],
            "editable": False, "schemaVersion": 39, "version": 1, "refresh": "30s", "timezone": "utc",
            "time": {"from": "now-3h", "to": "now"}, "graphTooltip": 1,
            "templating": {"list": self.variables}, "annotations": {"list": []}, "links": [],
            "panels": self.panels,
        }


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": {"query": query, "refId": f"var-{name}"}, "definition": query, "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "sort": 1}


def _rate(metric: str, by: str = "", selector: str = "") -> str:
    """``sum by (by) (rate(metric{selector}[RATE]))``: a counter's rate per second, summed (by ``by`` if given)."""
    grouping = f" by ({by}) " if by else ""
    matchers = f"{{{selector}}}" if selector else ""
    return f"sum{grouping}(rate({metric}{matchers}[{RATE}]))"


def _choice(label: str, metric: str) -> tuple[list[dict[str, Any]], str]:
    """A board's variable choosing values of ``label`` (among those ``metric`` has), and the matcher that applies
    the choice in a query."""
    return [_variable(label, label.capitalize(), f"label_values({metric}, {label})")], f'{label}=~"${label}"'


def _quantiles(metric: str, by: str, selector: str = "") -> list[Target]:
    inner = _rate(f"{metric}_bucket", f"le, {by}", selector)
    return [(f"histogram_quantile({q}, {inner})", f"p{round(q * 100)} {{{{{by}}}}}") for q in (0.5, 0.95, 0.99)]


def _per_service(template: str, services: tuple[str, ...], legend: str) -> list[Target]:
    return [(template.format(service=s), legend.format(service=s)) for s in services]


def overview() -> Board:
    b = Board("esap-overview", "esap-batch: overview",
              "Jobs through the whole chain: throughput, phases, errors and latencies.")
    b.row("Throughput")
    b.add("Jobs created per second", [(_rate("gateway_jobs_submitted_total"), "created"),
                                      (_rate("catalog_jobs_created_total"), "stored by the catalog")],
          unit="reqps")
    b.add("Phase transitions per second", [
        (_rate("catalog_phase_transitions_total", "to_phase"), "to {{to_phase}}")],
        unit="reqps", stack=True)
    b.add("Jobs that entered each phase in the time range", [
        ("sum by (to_phase) (increase(catalog_phase_transitions_total[$__range]))", "{{to_phase}}")],
        kind="bargauge", width=8,
        description="Counts of jobs entering each phase over the dashboard's range (from phase transitions).")
    b.add("Jobs by phase now", [("sum by (phase) (catalog_jobs)", "{{phase}}")], kind="bargauge", width=8,
          description="Jobs stored in each phase, counted by the catalog every few seconds.")
    b.add("Jobs active on backends", [("sum(monitor_jobs_tracked)", "tracked by the monitor"),
                                      ("sum(submitter_running_jobs)", "local processes running")], width=8)
    b.add("Submissions per second by outcome", [
        (_rate("submitter_submissions_total", "backend, outcome"), "{{backend}} {{outcome}}")],
        unit="reqps", width=8)
    b.row("Errors")
    b.add("Failed submissions and kills", [
        (_rate("submitter_submissions_total", "backend", 'outcome="failed"'), "submit {{backend}}"),
        (_rate("submitter_kills_total", "backend, outcome", 'outcome=~"refused|failed"'),
         "kill {{backend}} {{outcome}}")], unit="reqps", width=8)
    b.add("Backend status-call errors", [
        (_rate("monitor_backend_calls_total", "backend", 'outcome="error"'), "{{backend}}"),
        (_rate("monitor_catalog_syncs_total", selector='outcome="error"'), "catalog sync")],
        unit="reqps", width=8)
    b.add("Dead-lettered messages and refused callbacks",
          [*_per_service(f"sum(rate({{service}}_messages_dead_lettered_total[{RATE}]))", CONSUMERS,
                         "dead-lettered by the {service}"),
           (_rate("gateway_callbacks_total", "outcome", 'outcome!~"accepted|late"'),
            "callback {{outcome}}")], unit="reqps", width=8,
          description="Late callbacks (the right token after the job's end, usual for local jobs) are not counted.")
    b.add("HTTP 5xx per second by service", _per_service(
        f'sum(rate({{service}}_http_request_duration_seconds_count{{{{status=~"5.."}}}}[{RATE}]))', SERVICES,
        "{service}"), unit="reqps", width=24, height=6)
    b.row("Latencies")
    b.add("Gateway HTTP latency by route (p95)", [
        (f"histogram_quantile(0.95, sum by (le, method, route) "
         f"(rate(gateway_http_request_duration_seconds_bucket{{{OPS_ROUTES}}}[{RATE}])))", "{{method}} {{route}}")],
        unit="s", description="A GET with WAIT lasts as long as it waits: expect its route to be slow.")
    b.add("Catalog HTTP latency by route (p95)", [
        (f"histogram_quantile(0.95, sum by (le, method, route) "
         f"(rate(catalog_http_request_duration_seconds_bucket{{{OPS_ROUTES}}}[{RATE}])))", "{{method}} {{route}}")],
        unit="s")
    b.add("Gateway to catalog requests", _quantiles("gateway_catalog_request_duration_seconds", "route"), unit="s")
    b.add("Outbox lag: commit to confirmed publish", _quantiles("catalog_outbox_lag_seconds", "instance"), unit="s")
    b.add("Open WAIT requests", [("sum(gateway_open_waits)", "gateway"), ("sum(catalog_waiters)", "catalog")],
          width=8)
    b.add("Catalog batch size (mean)", [
        (f"sum(rate(catalog_batch_size_sum[{RATE}])) / sum(rate(catalog_batch_size_count[{RATE}]))", "messages")],
        width=8)
    b.add("Poll cycle duration (p95)", [
        (f"histogram_quantile(0.95, sum by (le, backend) (rate(monitor_poll_cycle_duration_seconds_bucket[{RATE}])))",
         "{{backend}}")], unit="s", width=8)
    return b


def backends() -> Board:
    variables, sel = _choice("backend", "monitor_backend_calls_total")
    b = Board("esap-backends", "esap-batch: job backends (DIRAC, local)",
              "What the submitter and the monitor see of each backend: bulk status calls, errors, poll cycles, "
              "submissions and kills. The poll cycle is one bulk status call per backend and cycle.", variables)
    b.row("Status calls (monitor)")
    b.add("Bulk status calls per second by outcome", [
        (_rate("monitor_backend_calls_total", "backend, outcome", sel), "{{backend}} {{outcome}}")],
        unit="reqps", stack=True)
    b.add("Status-call error ratio", [
        (_rate("monitor_backend_calls_total", "backend", f'{sel}, outcome="error"') + " / "
         + _rate("monitor_backend_calls_total", "backend", sel), "{{backend}}")],
        unit="percentunit")
    b.add("Poll cycle duration", _quantiles("monitor_poll_cycle_duration_seconds", "backend", sel), unit="s")
    b.add("Status changes seen, by DIRAC status", [
        (_rate("monitor_status_changes_total", "status"), "{{status}}")], unit="reqps", stack=True)
    b.add("Jobs tracked", [("sum(monitor_jobs_tracked)", "jobs")], width=8)
    b.add("Catalog resyncs by outcome", [
        (f"sum by (outcome) (increase(monitor_catalog_syncs_total[{RATE}]))", "{{outcome}}")], width=8)
    b.add("Poll cycles per second", [
        (_rate("monitor_poll_cycle_duration_seconds_count", "backend", sel), "{{backend}}")],
        unit="reqps", width=8)
    b.add("Results of ended jobs (output sandboxes) by outcome", [
        (_rate("monitor_results_fetches_total", "backend, outcome", sel),
         "{{backend}} {{outcome}}")], unit="reqps", stack=True, width=24, height=6)
    b.row("Submissions and kills (submitter)")
    b.add("Submissions by outcome", [
        (_rate("submitter_submissions_total", "backend, outcome", sel), "{{backend}} {{outcome}}")],
        unit="reqps", stack=True)
    b.add("Kills by outcome", [
        (_rate("submitter_kills_total", "backend, outcome", sel), "{{backend}} {{outcome}}")],
        unit="reqps", stack=True)
    b.add("Job callbacks", [
        (_rate("submitter_callbacks_total", "outcome"), "sent by local jobs: {{outcome}}"),
        (_rate("gateway_callbacks_total", "outcome"), "received by the gateway: {{outcome}}")],
        unit="reqps")
    b.add("Local processes running", [("sum(submitter_running_jobs)", "running"),
                                      ("sum(submitter_waiting_jobs)", "waiting for a slot (max_parallel)")])
    b.row("Backend calls (DIRAC, DiracX, local)")
    for service in ("submitter", "monitor"):
        b.add(f"{service.capitalize()}: backend call latency (p95) by operation", [
            (f"histogram_quantile(0.95, sum by (le, backend, operation) "
             f"(rate({service}_backend_call_duration_seconds_bucket{{{sel}}}[{RATE}])))",
             "{{backend}} {{operation}}")], unit="s")
    b.add("Backend call errors by operation", [
        (f'sum by (backend, operation, outcome) (rate({service}_backend_call_duration_seconds_count'
         f'{{{sel}, outcome!="ok"}}[{RATE}]))', f"{service} {{{{backend}}}} {{{{operation}}}} {{{{outcome}}}}")
        for service in ("submitter", "monitor")], unit="reqps", width=24, height=6)
    return b


def bus() -> Board:
    variables, queue = _choice("queue", "rabbitmq_queue_messages_ready")
    b = Board("esap-bus", "esap-batch: message bus",
              "RabbitMQ queues (per-object metrics from the rabbitmq_prometheus plugin) and each service's view of "
              "the messages it publishes and consumes.", variables)
    b.row("Queues (RabbitMQ)")
    b.add("Messages ready by queue", [(f"sum by (queue) (rabbitmq_queue_messages_ready{{{queue}}})", "{{queue}}")])
    b.add("Messages unacknowledged by queue", [
        (f"sum by (queue) (rabbitmq_queue_messages_unacked{{{queue}}})", "{{queue}}")])
    b.add("Consumers by queue", [
        (f'sum by (queue) (rabbitmq_queue_consumers{{queue=~"{MAIN_QUEUES}"}})', "{{queue}}")], width=8,
        description="Every main queue needs at least one consumer; retry and dead-letter queues have none.")
    b.add("Dead-letter queues", [
        ('sum by (queue) (rabbitmq_queue_messages{queue=~".+\\\\.dead"})', "{{queue}}")], width=8)
    b.add("Retry queues", [('sum by (queue) (rabbitmq_queue_messages{queue=~".+\\\\.retry"})', "{{queue}}")],
          width=8)
    b.row("Messages (services)")
    for noun, title in (("published", "Published and confirmed"), ("consumed", "Consumed and acked"),
                        ("redelivered", "Redelivered by the broker"), ("retried", "Sent through a retry queue"),
                        ("dead_lettered", "Dead-lettered")):
        services = SERVICES if noun == "published" else CONSUMERS
        b.add(f"{title} per second", _per_service(
            f"sum by (type) (rate({{service}}_messages_{noun}_total[{RATE}]))", services, "{service} {{{{type}}}}"),
            unit="reqps", width=8 if noun != "published" else 12)
    b.add("Batch handling time (p95)", _per_service(
        f"histogram_quantile(0.95, sum by (le) (rate({{service}}_message_batch_duration_seconds_bucket[{RATE}])))",
        CONSUMERS, "{service}"), unit="s", width=8)
    b.row("Connections (services)")
    b.add("Live consumers by service and queue", _per_service(
        "sum by (queue) ({service}_bus_consumers)", CONSUMERS, "{service} {{{{queue}}}}"), width=8,
        description="1 while the service reads its queue; 0 while it reconnects, or if its consumer did not come back "
                    "(alert EsapConsumerLost). Readiness fails meanwhile.")
    b.add("Connected to RabbitMQ", _per_service("min({service}_bus_connected)", SERVICES, "{service}"), width=8)
    b.add("Reconnections", _per_service(f"sum(increase({{service}}_bus_reconnections_total[{RATE}]))", SERVICES,
                                        "{service}"), width=8)
    b.add("Batches held (something they need is away)", _per_service(
        f"sum(increase({{service}}_messages_held_total[{RATE}]))", CONSUMERS, "{service}"))
    b.add("Requests refused with 503, by dependency", [
        (_rate("gateway_requests_refused_total", "dependency"), "gateway: {{dependency}}"),
        (_rate("catalog_requests_refused_total", "dependency"), "catalog: {{dependency}}")],
        unit="reqps")
    b.row("Outbox (catalog)")
    b.add("Outbox rows pending", [("sum(catalog_outbox_pending)", "pending")])
    b.add("Outbox lag (p95)", [
        (f"histogram_quantile(0.95, sum by (le) (rate(catalog_outbox_lag_seconds_bucket[{RATE}])))", "p95")],
        unit="s")
    return b


BOARDS = {"esap-overview.json": overview, "esap-backends.json": backends, "esap-bus.json": bus}


def render() -> dict[str, str]:
    return {name: json.dumps(build().to_json(), indent=2) + "\n" for name, build in BOARDS.items()}


def write(directory: Path = OUT) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


if __name__ == "__main__":
    for path in write():
        sys.stdout.write(f"{path}\n")
