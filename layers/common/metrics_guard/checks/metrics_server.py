"""metrics-server itself: its Service exists with the APIService's port, its pods are Ready (as the kubelet
reports it) and its endpoints carry a ready address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from metrics_guard.checks._base import Call, call_failure_summary, decode_call, finding
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import decode_endpointslice_list, decode_pod_list, decode_service
from metrics_guard.model import Code, Finding, Json, Status, Target

CHECK = "metrics-server.ready"


@dataclass(frozen=True, slots=True)
class MetricsServerObservation:
    cluster: str
    namespace: str
    service_name: str
    service_port: int
    service_call: Call
    pods_call: Call | None  # pods selected by the Service's selector (None: no selector to list by)
    endpoints_call: Call | None


def metrics_server_ready(obs: MetricsServerObservation) -> bool | None:
    """True/False from the pods' Ready condition; None when it could not be read."""
    if obs.pods_call is None:
        return None
    pods = decode_call(obs.pods_call, decode_pod_list)
    if pods.value is None:
        return None
    running = [p for p in pods.value.items if not p.deleting]
    if not running:
        return False
    return any(p.ready for p in running)


def check_metrics_server(
    obs: MetricsServerObservation, policy: ProbePolicy, *, now: datetime
) -> list[Finding]:
    target = Target("service", obs.service_name)
    evidence: dict[str, Json] = {"service": f"{obs.namespace}/{obs.service_name}", "port": obs.service_port}

    def make(status: Status, code: Code, summary: str) -> list[Finding]:
        return [
            finding(
                cluster=obs.cluster,
                now=now,
                check=CHECK,
                target=target,
                status=status,
                code=code,
                summary=summary,
                evidence=evidence,
            )
        ]

    if obs.service_call.status == 404:
        return make(
            Status.FAIL,
            Code.METRICS_SERVICE_MISSING,
            f"Service {obs.namespace}/{obs.service_name} does not exist",
        )
    service = decode_call(obs.service_call, decode_service)
    if service.value is None:
        evidence["request"] = obs.service_call.evidence()
        return make(Status.ERROR, Code.PROBE_ERROR, service.error or call_failure_summary(obs.service_call))
    svc = service.value
    port = svc.port_named(obs.service_port)
    if svc.type == "ClusterIP" and port is None:
        evidence["ports"] = [p.port for p in svc.ports]
        return make(
            Status.FAIL,
            Code.METRICS_SERVICE_MISSING,
            f"Service {obs.namespace}/{obs.service_name} has no port {obs.service_port}",
        )
    ready_endpoints: int | None = None
    if obs.endpoints_call is not None:
        endpoints = decode_call(obs.endpoints_call, decode_endpointslice_list)
        if endpoints.value is not None:
            wanted = port.name if port is not None else None
            ready_endpoints = sum(
                1
                for e in endpoints.value
                if e.ready and (wanted is None or any(n == wanted for n, _ in e.ports))
            )
            evidence["ready_endpoints"] = ready_endpoints
            listed: list[Json] = []
            listed.extend(f"{e.ip} ready={e.ready}" for e in endpoints.value[:10])
            evidence["endpoints"] = listed
    pods: list[Json] = []
    if obs.pods_call is not None:
        decoded = decode_call(obs.pods_call, decode_pod_list)
        if decoded.value is not None:
            pods = [_pod_json(p.namespace, p.name, p.node, p.phase, p.ready) for p in decoded.value.items][
                :10
            ]
            evidence["pods"] = pods
    ready = metrics_server_ready(obs)
    evidence["ready"] = ready
    if ready is False:
        summary = (
            f"metrics-server has no Ready pod ({len(pods)} pod(s) selected by {obs.namespace}/{obs.service_name})"
            if pods
            else f"no pod matches Service {obs.namespace}/{obs.service_name}"
        )
        return make(Status.FAIL, Code.METRICS_SERVER_NOT_READY, summary)
    if ready is None and ready_endpoints == 0:
        return make(
            Status.FAIL, Code.METRICS_SERVER_NOT_READY, "metrics-server's Service has no ready endpoint"
        )
    if ready is None and ready_endpoints is None:
        return make(Status.ERROR, Code.PROBE_ERROR, "metrics-server's readiness could not be read")
    return make(
        Status.OK,
        Code.OK,
        f"metrics-server Ready ({ready_endpoints if ready_endpoints is not None else '?'} ready endpoint(s))",
    )


def _pod_json(namespace: str, name: str, node: str, phase: str, ready: bool) -> Json:
    return {"pod": f"{namespace}/{name}", "node": node, "phase": phase, "ready": ready}
