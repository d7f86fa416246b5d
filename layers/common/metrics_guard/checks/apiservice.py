"""APIService v1beta1.metrics.k8s.io: registered, ``Available``, and if not, why (classified message)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from metrics_guard.checks._base import Call, Decoded, call_failure_summary, decode_call, finding
from metrics_guard.checks.classify import SYMPTOM_CODE, Symptom, classify_condition
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.apiservice import APIService, decode_apiservice
from metrics_guard.model import Code, Finding, Json, Severity, Status, Target

CHECK = "metrics-api.apiservice"


@dataclass(frozen=True, slots=True)
class ApiServiceObservation:
    cluster: str
    name: str
    call: Call


def read_apiservice(call: Call) -> Decoded[APIService]:
    return decode_call(call, decode_apiservice)


def apiservice_symptom(apiservice: APIService | None) -> Symptom | None:
    """None when Available (or unknown); otherwise the classified reason of the condition."""
    if apiservice is None or apiservice.is_available:
        return None
    condition = apiservice.available
    if condition is None:
        return Symptom.UNKNOWN
    return classify_condition(condition.reason, condition.message)


def check_apiservice(obs: ApiServiceObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    target = Target("apiservice", obs.name)
    evidence: dict[str, Json] = {"request": obs.call.evidence()}

    def make(status: Status, code: Code, summary: str, severity: Severity | None = None) -> list[Finding]:
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
                severity=severity,
            )
        ]

    if obs.call.status == 404:
        return make(
            Status.FAIL,
            Code.APISERVICE_MISSING,
            f"APIService {obs.name} is not registered",
            Severity.CRITICAL,
        )
    if not obs.call.ok:
        return make(Status.ERROR, Code.PROBE_ERROR, call_failure_summary(obs.call))
    decoded = read_apiservice(obs.call)
    if decoded.value is None:
        evidence["decode_error"] = decoded.error
        return make(Status.ERROR, Code.PROBE_ERROR, f"APIService {obs.name}: {decoded.error}")
    apiservice = decoded.value
    evidence.update(
        {
            "service": None
            if apiservice.is_local
            else f"{apiservice.service_namespace}/{apiservice.service_name}:{apiservice.service_port}",
            "ca_bundle": apiservice.ca_bundle_pem is not None,
            "insecure_skip_tls_verify": apiservice.insecure_skip_tls_verify,
        }
    )
    condition = apiservice.available
    if condition is not None:
        evidence["condition"] = {
            "status": condition.status,
            "reason": condition.reason,
            "message": condition.message[:500],
            "last_transition": condition.last_transition.isoformat() if condition.last_transition else None,
        }
    symptom = apiservice_symptom(apiservice)
    if symptom is None:
        return make(
            Status.OK,
            Code.OK,
            f"APIService {obs.name} is Available ({condition.reason if condition else ''})",
        )
    evidence["symptom"] = symptom.value
    reason = condition.reason if condition else "no Available condition"
    message = condition.message if condition else ""
    short = message if len(message) <= 160 else message[:157] + "..."
    return make(
        Status.FAIL,
        SYMPTOM_CODE[symptom],
        f"APIService {obs.name} not Available: {reason}: {short}".rstrip(": "),
        Severity.CRITICAL,
    )
