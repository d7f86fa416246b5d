"""The cold-start baseline: metrics_probe as it is usually written, against the typed kubernetes client.

Eager imports (``kubernetes``, ``boto3``, Powertools), ``CoreV1Api`` / ``ApiregistrationV1Api`` /
``CustomObjectsApi`` / ``DiscoveryV1Api`` / ``VersionApi``, one ``ApiClient`` per endpoint. It makes the
calls metrics_probe's first invocation makes (the registry from SSM, the credentials secret, the front's
reads, each apiserver's metrics, ``/metrics`` and ``/readyz``) and puts one finding per check on the bus,
ten entries per request. It is started exactly like the product's function (awslambdaric, the built layer
at ``/opt/python``); ``benchmarks/cold_start.py`` alternates the two.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import kubernetes
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from kubernetes import client

logger = Logger()
tracer = Tracer()
metrics = Metrics()
ssm = boto3.client("ssm")
secrets = boto3.client("secretsmanager")
events = boto3.client("events")
GV = ("metrics.k8s.io", "v1beta1")


def api_client(host: str, token: str, ca_file: str) -> client.ApiClient:
    config = client.Configuration()
    config.host = host
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    config.ssl_ca_cert = ca_file
    config.verify_ssl = True
    return client.ApiClient(config)


def raw(api: client.ApiClient, path: str) -> bytes:
    method, url, headers, body, post = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = api.call_api(method, url, headers, body, post)
    response.read()  # type: ignore[no-untyped-call]
    return response.data or b""


def probe_cluster(entry: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    secret = json.loads(secrets.get_secret_value(SecretId=entry["credentials_secret_arn"])["SecretString"])
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(secret["ca_pem"])
    front = api_client(entry["endpoint"], secret["token"], handle.name)
    core, custom = client.CoreV1Api(front), client.CustomObjectsApi(front)
    out: list[tuple[str, str, dict[str, Any]]] = []
    version = client.VersionApi(front).get_code()
    out.append(("probe.reachability", "endpoint/front", {"version": version.git_version}))
    service = client.ApiregistrationV1Api(front).read_api_service("v1beta1.metrics.k8s.io")
    available = [
        c.status for c in ((service.status and service.status.conditions) or []) if c.type == "Available"
    ]
    out.append(("metrics-api.apiservice", "apiservice/v1beta1.metrics.k8s.io", {"available": available}))
    client.ApisApi(front).get_api_versions()
    client.CoreApi(front).get_api_versions()
    node_metrics: Any = custom.list_cluster_custom_object(*GV, "nodes")
    pod_metrics: Any = custom.list_cluster_custom_object(*GV, "pods")
    nodes = core.list_node(limit=500)
    pods = core.list_pod_for_all_namespaces(field_selector="status.phase=Running", limit=500)
    out.append(
        (
            "metrics-api.end-to-end",
            "apiservice/v1beta1.metrics.k8s.io",
            {"nodes": len(node_metrics["items"]), "pods": len(pod_metrics["items"])},
        )
    )
    out.append(
        (
            "metrics-api.coverage",
            "cluster/" + entry["name"],
            {"nodes": len(nodes.items), "pods": len(pods.items)},
        )
    )
    ms = core.read_namespaced_service("metrics-server", "kube-system")
    selector = ",".join(f"{k}={v}" for k, v in ((ms.spec and ms.spec.selector) or {}).items())
    client.DiscoveryV1Api(front).list_namespaced_endpoint_slice(
        "kube-system", label_selector="kubernetes.io/service-name=metrics-server"
    )
    ms_pods = core.list_namespaced_pod("kube-system", label_selector=selector)
    out.append(("metrics-server.ready", "service/kube-system/metrics-server", {"pods": len(ms_pods.items)}))
    auth = core.read_namespaced_config_map("extension-apiserver-authentication", "kube-system")
    out.append(
        (
            "aggregation.config",
            "configmap/extension-apiserver-authentication",
            {"keys": sorted(auth.data or {})},
        )
    )
    for index, instance in enumerate(entry.get("control_plane", {}).get("instances", []), start=1):
        direct = api_client(instance["apiserver_endpoint"], secret["token"], handle.name)
        listed: Any = client.CustomObjectsApi(direct).list_cluster_custom_object(*GV, "nodes")
        items = listed["items"]
        raw(direct, "/metrics")
        raw(direct, "/readyz?verbose")
        out.append(("metrics-api.apiserver", f"apiserver/{index}", {"nodes": len(items)}))
    Path(handle.name).unlink()
    return out


def finding(cluster: str, check: str, target: str, evidence: dict[str, Any]) -> dict[str, Any]:
    fingerprint = hashlib.sha256(f"{cluster}|{check}|{target}".encode()).hexdigest()
    return {
        "cluster": cluster,
        "check": check,
        "target": target,
        "status": "ok",
        "severity": "info",
        "code": "OK",
        "summary": f"{check} ok",
        "evidence": evidence,
        "remedy": None,
        "remediable_by": None,
        "fingerprint": fingerprint,
        "observed_at": datetime.now(UTC).isoformat(),
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    registry = json.loads(ssm.get_parameter(Name=os.environ["REGISTRY_PARAMETER"])["Parameter"]["Value"])
    findings = [finding(e["name"], *f) for e in registry for f in probe_cluster(e)]
    bus = os.environ["EVENT_BUS_NAME"]
    for start in range(0, len(findings), 10):
        events.put_events(
            Entries=[
                {
                    "Source": "metrics-guard",
                    "DetailType": "Metrics Guard Finding",
                    "Detail": json.dumps(f),
                    "EventBusName": bus,
                }
                for f in findings[start : start + 10]
            ]
        )
    metrics.add_metric(name="ProbeRuns", unit=MetricUnit.Count, value=1)
    logger.info("probe finished", extra={"published": len(findings), "kubernetes": kubernetes.__version__})
    return {"ok": True, "status": "ok", "published": len(findings)}
