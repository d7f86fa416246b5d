"""Each apiserver's own view of the APIService (``aggregator_unavailable_apiservice`` in its /metrics) and
direct GETs through it, so that "1 of 3 apiservers fails" names the one (the shared condition flaps then)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from metrics_guard.checks._base import Call, finding
from metrics_guard.checks.classify import Symptom, classify_message
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import error_text
from metrics_guard.decode.text import decode_health_verbose, unavailable_apiservice
from metrics_guard.errors import DecodeError
from metrics_guard.model import Code, Finding, Json, Status, Target
from metrics_guard.ports import NodeRef

CHECK = "metrics-api.apiserver"
AGREE_CHECK = "metrics-api.apiservers-agree"


@dataclass(frozen=True, slots=True)
class ApiserverObservation:
    node: NodeRef
    metrics_call: Call | None
    direct_calls: tuple[Call, ...]
    readyz_call: Call | None = None


@dataclass(frozen=True, slots=True)
class PerApiserverObservation:
    cluster: str
    apiservice: str
    apiservers: Sequence[ApiserverObservation]


def apiserver_view(obs: ApiserverObservation, apiservice: str) -> bool | None:
    """True when this apiserver reports the APIService unavailable, False available, None unknown."""
    if obs.metrics_call is None or not obs.metrics_call.ok:
        return None
    try:
        return unavailable_apiservice(obs.metrics_call.body, apiservice)
    except DecodeError:
        return None


def check_per_apiserver(obs: PerApiserverObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    out: list[Finding] = []
    views: dict[int, bool | None] = {}
    for item in obs.apiservers:
        target = Target("apiserver", str(item.node.index))
        evidence: dict[str, Json] = {"endpoint": item.node.apiserver_url, "node": item.node.name}
        unavailable = apiserver_view(item, obs.apiservice)
        views[item.node.index] = unavailable
        evidence["aggregator_unavailable_apiservice"] = None if unavailable is None else int(unavailable)
        if item.metrics_call is not None:
            evidence["metrics_request"] = item.metrics_call.evidence()
        successes = sum(1 for c in item.direct_calls if c.ok)
        symptoms: list[Json] = []
        for call in item.direct_calls:
            if call.response is not None and not call.ok:
                symptoms.append(classify_message(error_text(call.body)).value)
        evidence["direct_requests"] = [c.evidence() for c in item.direct_calls]
        evidence["direct_ok"] = successes
        evidence["direct_symptoms"] = symptoms
        if item.readyz_call is not None and item.readyz_call.response is not None:
            try:
                report = decode_health_verbose(item.readyz_call.body)
                failing: list[Json] = list(report.failing)
                evidence["readyz_failing"] = failing
            except DecodeError:
                pass
        reachable = any(c.response is not None for c in item.direct_calls) or (
            item.metrics_call is not None and item.metrics_call.response is not None
        )
        status, code = Status.OK, Code.OK
        if not reachable:
            status, code = Status.ERROR, Code.PROBE_ERROR
            errors = [c.error for c in item.direct_calls if c.error] or ["no response"]
            summary = f"apiserver {item.node.index} ({item.node.apiserver_url}) did not answer: {errors[0]}"
        elif unavailable is True:
            status, code = Status.FAIL, Code.METRICS_SERVER_UNREACHABLE
            summary = f"apiserver {item.node.index} sees {obs.apiservice} unavailable ({successes}/{len(item.direct_calls)} direct requests ok)"
        elif unavailable is None and item.direct_calls and successes == 0:
            status, code = Status.FAIL, Code.METRICS_SERVER_UNREACHABLE
            first = next((s for s in symptoms if isinstance(s, str)), Symptom.UNKNOWN.value)
            summary = f"apiserver {item.node.index}: every direct Metrics API request failed ({first})"
        else:
            summary = f"apiserver {item.node.index} sees {obs.apiservice} available ({successes}/{len(item.direct_calls)} direct requests ok)"
        out.append(
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
        )
    known = {i: v for i, v in views.items() if v is not None}
    if len(known) >= 2:
        down = sorted(i for i, v in known.items() if v)
        up = sorted(i for i, v in known.items() if not v)
        evidence_agree: dict[str, Json] = {"unavailable_on": list(down), "available_on": list(up)}
        if down and up:
            names = ", ".join(str(i) for i in down)
            out.append(
                finding(
                    cluster=obs.cluster,
                    now=now,
                    check=AGREE_CHECK,
                    target=Target("apiservice", obs.apiservice),
                    status=Status.WARN,
                    code=Code.APISERVERS_DISAGREE,
                    summary=f"{len(down)} of {len(known)} apiservers see {obs.apiservice} unavailable: apiserver {names}",
                    evidence=evidence_agree,
                )
            )
        else:
            out.append(
                finding(
                    cluster=obs.cluster,
                    now=now,
                    check=AGREE_CHECK,
                    target=Target("apiservice", obs.apiservice),
                    status=Status.OK,
                    code=Code.OK,
                    summary=f"all {len(known)} apiservers agree on {obs.apiservice}",
                    evidence=evidence_agree,
                )
            )
    return out
