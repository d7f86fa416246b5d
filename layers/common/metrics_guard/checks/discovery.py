"""Discovery of metrics.k8s.io/v1beta1: listed in /apis, fresh in aggregated discovery, resources
``nodes`` and ``pods`` served by the group-version endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from metrics_guard.checks._base import Call, call_failure_summary, decode_call, finding
from metrics_guard.checks.classify import SYMPTOM_CODE, classify_message
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import error_text
from metrics_guard.decode.discovery import decode_discovery, decode_resource_list
from metrics_guard.model import Code, Finding, Json, Status, Target

CHECK = "metrics-api.discovery"
REQUIRED = ("nodes", "pods")


@dataclass(frozen=True, slots=True)
class DiscoveryObservation:
    cluster: str
    group: str
    version: str
    apis_call: Call
    group_version_call: Call


def check_discovery(obs: DiscoveryObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    target = Target("apigroup", obs.group)
    evidence: dict[str, Json] = {
        "apis": obs.apis_call.evidence(),
        "group_version": obs.group_version_call.evidence(),
    }
    problems: list[str] = []
    code = Code.OK
    status = Status.OK

    apis = decode_call(obs.apis_call, decode_discovery)
    if apis.value is not None:
        entry = apis.value.find(obs.group, obs.version)
        evidence["aggregated_discovery"] = apis.value.aggregated
        if entry is None:
            problems.append(f"{obs.group}/{obs.version} is not listed in /apis")
            code, status = Code.APISERVICE_MISSING, Status.FAIL
        elif entry.freshness == "Stale":
            evidence["freshness"] = "Stale"
            problems.append(f"aggregated discovery marks {obs.group}/{obs.version} Stale")
            code, status = Code.METRICS_SERVER_UNREACHABLE, Status.FAIL
        elif entry.freshness:
            evidence["freshness"] = entry.freshness
    elif apis.error is not None:
        problems.append(apis.error)
        code, status = Code.PROBE_ERROR, Status.ERROR
    else:
        problems.append(call_failure_summary(obs.apis_call))
        code, status = Code.PROBE_ERROR, Status.ERROR

    gv = obs.group_version_call
    if gv.ok:
        resources = decode_call(gv, decode_resource_list)
        if resources.value is None:
            problems.append(f"/apis/{obs.group}/{obs.version}: {resources.error}")
            code, status = Code.METRICS_SERVER_UNREACHABLE, Status.FAIL
        else:
            missing = [r for r in REQUIRED if r not in resources.value.resources]
            evidence["resources"] = list(resources.value.resources)
            if missing:
                problems.append(f"/apis/{obs.group}/{obs.version} lacks resources {', '.join(missing)}")
                code, status = Code.METRICS_SERVER_UNREACHABLE, Status.FAIL
    elif gv.response is not None:
        text = error_text(gv.body)
        symptom = classify_message(text)
        evidence["symptom"] = symptom.value
        evidence["body"] = text
        problems.append(f"GET /apis/{obs.group}/{obs.version}: HTTP {gv.status} {text[:120]}")
        if gv.status == 404:
            code = Code.APISERVICE_MISSING
        elif code is not Code.APISERVICE_MISSING:
            code = SYMPTOM_CODE[symptom]
        status = Status.FAIL
    else:
        problems.append(call_failure_summary(gv))
        if status is Status.OK:
            code, status = Code.PROBE_ERROR, Status.ERROR

    summary = (
        f"{obs.group}/{obs.version} discovered, serving {', '.join(REQUIRED)}"
        if status is Status.OK
        else "; ".join(problems)
    )
    if problems:
        evidence["problems"] = list(problems)
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
