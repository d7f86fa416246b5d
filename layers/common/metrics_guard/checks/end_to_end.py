"""End-to-end GETs of /apis/metrics.k8s.io/v1beta1/{nodes,pods}: what ``kubectl top`` and the HPA see.

Catches "APIService Available but every request fails" (serving cert / caBundle mismatch) and tells a 401
passed through from the backend from a 401 of kube-apiserver itself (which also fails the baseline GET).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from metrics_guard.checks._base import TIMEOUT, TOO_LARGE, Call, Decoded, finding
from metrics_guard.checks.classify import SYMPTOM_CODE, Symptom, classify_message
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import error_text
from metrics_guard.decode.metrics import NodeUsage, PodUsage
from metrics_guard.model import Code, Finding, Json, Severity, Status, Target

CHECK = "metrics-api.end-to-end"


@dataclass(frozen=True, slots=True)
class EndToEndObservation:
    cluster: str
    group_version: str  # "metrics.k8s.io/v1beta1"
    nodes_call: Call
    pods_call: Call
    baseline_call: Call  # GET /api (or /version) on the same endpoint with the same credentials
    node_metrics: Decoded[tuple[NodeUsage, ...]]
    pod_metrics: Decoded[tuple[PodUsage, ...]]
    apiservice_symptom: Symptom | None = None


def _one(
    obs: EndToEndObservation,
    resource: str,
    call: Call,
    decoded: Decoded[tuple[NodeUsage, ...]] | Decoded[tuple[PodUsage, ...]],
    now: datetime,
) -> Finding:
    group = obs.group_version.split("/", 1)[0]
    target = Target("resource", f"{resource}.{group}")
    evidence: dict[str, Json] = {"request": call.evidence()}
    status, code, severity = Status.FAIL, Code.METRICS_SERVER_UNREACHABLE, Severity.CRITICAL
    path = f"/apis/{obs.group_version}/{resource}"
    if call.response is None:
        if call.error_kind == TOO_LARGE:
            status, code, severity = Status.ERROR, Code.PROBE_ERROR, Severity.MEDIUM
            summary = f"GET {path}: response larger than the configured cap"
        elif call.error_kind == TIMEOUT and obs.baseline_call.ok:
            evidence["symptom"] = Symptom.TIMEOUT.value
            code = Code.AGGREGATOR_NETWORK_TIMEOUT
            summary = f"GET {path} timed out through the aggregator ({call.error})"
        else:
            status, code, severity = Status.ERROR, Code.PROBE_ERROR, Severity.MEDIUM
            summary = f"GET {path} failed: {call.error}"
    elif call.ok:
        if decoded.value is not None:
            kind = "NodeMetrics" if resource == "nodes" else "PodMetrics"
            evidence["items"] = len(decoded.value)
            return finding(
                cluster=obs.cluster,
                now=now,
                check=CHECK,
                target=target,
                status=Status.OK,
                code=Code.OK,
                summary=f"GET {path}: {len(decoded.value)} {kind} in {call.elapsed_s * 1000:.0f} ms",
                evidence=evidence,
            )
        evidence["decode_error"] = decoded.error
        summary = f"GET {path} answered 200 with an unusable body: {decoded.error}"
    else:
        text = error_text(call.body)
        evidence["body"] = text
        http = call.response.status
        if http == 401:
            if obs.baseline_call.status == 401:
                status, code, severity = Status.ERROR, Code.PROBE_ERROR, Severity.HIGH
                evidence["origin"] = "kube-apiserver"
                summary = "kube-apiserver rejects the probe's credentials (401 on /api too)"
            else:
                evidence["origin"] = "backend"
                evidence["symptom"] = Symptom.AUTH_401.value
                code = Code.AGGREGATOR_PROXY_CERT_REJECTED
                summary = f"GET {path}: 401 passed through from metrics-server (the probe's credentials work on /api)"
        elif http == 403:
            if obs.apiservice_symptom is Symptom.AUTH_403:
                evidence["origin"] = "backend"
                evidence["symptom"] = Symptom.AUTH_403.value
                code = Code.AGGREGATOR_PROXY_CERT_REJECTED
                summary = f"GET {path}: 403 from metrics-server: {text[:120]}"
            else:
                status, code, severity = Status.ERROR, Code.PROBE_ERROR, Severity.MEDIUM
                evidence["origin"] = "kube-apiserver"
                summary = f"GET {path}: forbidden for the probe's identity (grant list on {resource}.{group}): {text[:100]}"
        elif http == 404:
            code = Code.APISERVICE_MISSING
            summary = f"GET {path}: 404, the Metrics API is not served"
        else:
            symptom = classify_message(text)
            if symptom in (Symptom.UNAVAILABLE, Symptom.UNKNOWN) and obs.apiservice_symptom is not None:
                symptom = obs.apiservice_symptom
            evidence["symptom"] = symptom.value
            code = SYMPTOM_CODE[symptom]
            summary = f"GET {path}: HTTP {http} {text[:140]}"
    return finding(
        cluster=obs.cluster,
        now=now,
        check=CHECK,
        target=target,
        status=status,
        code=code,
        summary=summary,
        evidence=evidence,
        severity=severity,
    )


def check_end_to_end(obs: EndToEndObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    return [
        _one(obs, "nodes", obs.nodes_call, obs.node_metrics, now),
        _one(obs, "pods", obs.pods_call, obs.pod_metrics, now),
    ]
