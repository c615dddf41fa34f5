"""deploy/: the manifests agree with the fleet they deploy — a worker for every model queue,
KEDA watching every priority list kombu uses for it, grace periods longer than the longest
task, secrets only from Secrets, and dashboards and alerts that query metrics which exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kombu.transport.redis import Channel
from prometheus_client.metrics import MetricWrapperBase

from fleet import metrics
from fleet.contracts import queue_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SHIPPED = yaml.safe_load((ROOT / "config" / "fleet.yaml").read_text())
MODELS = [m["name"] for m in SHIPPED["routing"]["models"] if m.get("enabled", True)]
LONGEST_TASK_S = SHIPPED["fleet"]["taskTimeout"] + 30  # celeryconfig.task_time_limit
SECRET_NAMES = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL|BASIC_AUTH)$")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kombu_lists(queue: str) -> set[str]:
    """The Redis lists kombu's transport keeps for ``queue``: one per priority step."""
    return {f"{queue}{Channel.sep}{step}" if step else queue for step in Channel.priority_steps}


def queues_of(command: list[str] | str) -> list[str]:
    words = command.split() if isinstance(command, str) else command
    return words[words.index("-Q") + 1].split(",") if "-Q" in words else []


@pytest.mark.parametrize("path", sorted(p for p in DEPLOY.rglob("*")
                                        if p.suffix in (".yml", ".yaml", ".json")),
                         ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deploy_file_parses(path: Path) -> None:
    if path.suffix == ".json":
        assert json.loads(path.read_text())
    else:
        assert documents(path)


def test_kubernetes_runs_a_worker_per_model_queue_and_keda_scales_it() -> None:
    manifests = documents(DEPLOY / "kubernetes" / "fleet.yaml")
    scaled = documents(DEPLOY / "kubernetes" / "keda.yaml")
    deployments = [d for d in manifests if d["kind"] == "Deployment"]
    by_queue: dict[str, dict[str, Any]] = {}
    for deployment in deployments:
        spec = deployment["spec"]
        assert spec["selector"]["matchLabels"].items() <= \
            spec["template"]["metadata"]["labels"].items()
        for queue in queues_of(spec["template"]["spec"]["containers"][0]["command"]):
            by_queue[queue] = deployment
    assert {"fleet.dispatch", "fleet.beat"} <= by_queue.keys()
    for model in MODELS:
        worker = by_queue[queue_for(model)]
        assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > \
            LONGEST_TASK_S
        [scaler] = [s for s in scaled
                    if s["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]]
        assert scaler["spec"]["minReplicaCount"] >= 1  # running tasks are not in the lists
        lists = {t["metadata"]["listName"] for t in scaler["spec"]["triggers"]
                 if t["type"] == "redis"}
        assert lists == kombu_lists(queue_for(model))


def test_secrets_reach_pods_only_from_the_secret() -> None:
    manifests = documents(DEPLOY / "kubernetes" / "fleet.yaml")
    [config_map] = [d for d in manifests if d["kind"] == "ConfigMap"]
    assert not [k for k in config_map["data"] if SECRET_NAMES.search(k)]
    for manifest in manifests:
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            assert "env" not in container  # no literal values in pod specs
            assert {"secretRef": {"name": "qe-fleet-secrets"}} in container["envFrom"]


def test_compose_runs_a_worker_per_model_queue() -> None:
    services = documents(DEPLOY / "docker-compose.yml")[0]["services"]
    queues = {q for s in services.values() for q in queues_of(s.get("command", ""))}
    assert {queue_for(m) for m in MODELS} | {"fleet.dispatch", "fleet.beat"} <= queues


def exported() -> dict[str, set[str]]:
    """Series names the fleet exports, each with its label names."""
    from fleet.monitoring import FleetCollector

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",)}
    series: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            labels = set(collector._labelnames)
            for family in collector.describe():
                for suffix in suffixes[family.type]:
                    series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket"
                                                             else set())
    for family in FleetCollector.describe(None):  # type: ignore[arg-type]  # read at scrape
        series[family.name] = set(getattr(family, "_labelnames", ()))
    return series


def queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "dashboards" / "qe-fleet.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = documents(DEPLOY / "prometheus" / "alerts.yml")[0]["groups"]
    return exprs + [r["expr"] for g in rules for r in g["rules"]]


def recorded() -> dict[str, set[str]]:
    """Series the recording rules make, with the labels they keep."""
    rules = documents(DEPLOY / "prometheus" / "alerts.yml")[0]["groups"]
    return {r["record"]: {label.strip() for group in re.findall(r"by \(([^)]*)\)", r["expr"])
                          for label in group.split(",")}
            for g in rules for r in g["rules"] if "record" in r}


def test_dashboard_and_alerts_query_metrics_and_labels_that_exist() -> None:
    series = exported() | recorded()
    assert "fleet_routing_first_pass_valid_ratio" in series
    used = set()
    for expr in queries():
        names = set(re.findall(r"\bfleet_[a-z_]+\b", expr))
        assert names and names <= series.keys(), expr
        used |= names
        labels = set().union(*(series[n] for n in names))
        grouped = {label.strip() for group in re.findall(r"by \(([^)]*)\)", expr)
                   for label in group.split(",")}
        matched = set(re.findall(r"(\w+)(?:=|!=|=~|!~)\"", expr))
        assert grouped | matched <= labels, expr
    # Every metric the fleet exports is on the dashboard or in an alert.
    assert {n for n in series if not n.endswith(("_sum", "_count"))} <= used


def test_compose_migrates_first_protects_flower_and_wires_metrics() -> None:
    compose = documents(DEPLOY / "docker-compose.yml")[0]
    services = compose["services"]
    for name in ("dispatcher", "worker-haiku", "beat", "gateway", "exporter"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}, name
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith(
        "${FLOWER_BASIC_AUTH:?")  # no default password: compose refuses to start without one
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    scrape = documents(DEPLOY / "prometheus" / "prometheus.yml")[0]["scrape_configs"]
    names = {n for job in scrape for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
    workers = {name for name, s in services.items() if "-Q" in str(s.get("command", ""))}
    assert workers <= names  # every worker service is scraped
    assert services["dispatcher"]["environment"]["FLEET_METRICS_PORT"] == "9100"
    assert {"prometheus", "grafana"} <= set(services)


def test_the_rabbitmq_option_moves_every_fleet_process_to_a_3_node_quorum_broker() -> None:
    base = documents(DEPLOY / "docker-compose.yml")[0]["services"]
    override = documents(DEPLOY / "docker-compose.rabbitmq.yml")[0]["services"]
    fleet_processes = {name for name, s in base.items() if s.get("build") == ".."}
    assert fleet_processes and fleet_processes <= set(override)
    for name in fleet_processes:
        env = override[name]["environment"]
        assert env["FLEET_QUEUE_TYPE"] == "quorum"
        nodes = env["FLEET_BROKER_URL"].split(";")
        assert [n.split("@")[1].split(":")[0] for n in nodes] == ["rabbit-1", "rabbit-2",
                                                                  "rabbit-3"]
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    assert all(f"rabbit@{node}" in conf for node in ("rabbit-1", "rabbit-2", "rabbit-3"))
    assert {"rabbit-1", "rabbit-2", "rabbit-3"} <= set(override)
