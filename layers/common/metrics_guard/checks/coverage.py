"""Coverage and freshness: every Node (cordoned or deleting ones excepted) has fresh NodeMetrics, whatever its
Ready condition (a NotReady node is said to be NotReady in the same finding), and the running pods on it have
PodMetrics (all of them, or a bounded sample).

One finding per node (``metrics-api.node-coverage`` on ``node/<name>``). When the Metrics API itself fails,
no coverage is claimed either way: the end-to-end finding carries that failure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from metrics_guard.bulk import bulk
from metrics_guard.checks._base import finding
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import Node, Pod
from metrics_guard.decode.metrics import NodeUsage, PodUsage
from metrics_guard.model import Code, Finding, Json, Status, Target

CHECK = "metrics-api.node-coverage"


@dataclass(frozen=True, slots=True)
class CoverageObservation:
    cluster: str
    nodes: tuple[Node, ...] | None
    pods: tuple[Pod, ...] | None
    node_metrics: tuple[NodeUsage, ...] | None
    pod_metrics: tuple[PodUsage, ...] | None


def _sample(pods: list[Pod], limit: int | None) -> list[Pod]:
    if limit is None or len(pods) <= limit:
        return pods
    step = len(pods) / limit
    return [pods[int(i * step)] for i in range(limit)]


@bulk
def check_coverage(obs: CoverageObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    if obs.nodes is None or obs.node_metrics is None:
        return []
    by_node = {m.name: m for m in obs.node_metrics}
    now_s = now.timestamp()
    pods_by_node: dict[str, list[Pod]] = defaultdict(list)
    running: list[Pod] = []
    if obs.pods is not None and obs.pod_metrics is not None:
        running = [
            p
            for p in obs.pods
            if p.phase == "Running"
            and not p.deleting
            and p.node
            and (p.started == 0.0 or now_s - p.started > policy.pod_grace_s)
        ]
    sample = _sample(running, policy.pod_sample)
    for pod in sample:
        pods_by_node[pod.node].append(pod)
    pod_stamp = {(m.namespace, m.name): m.timestamp for m in obs.pod_metrics or ()}
    sampled = policy.pod_sample is not None and len(running) > policy.pod_sample
    max_age_s = policy.max_metrics_age_s

    out: list[Finding] = []
    for node in obs.nodes:
        if node.unschedulable or node.deleting:
            continue
        target = Target("node", node.name)
        ready_text = "Ready" if node.ready else ("NotReady" if node.ready is False else "readiness unknown")
        evidence: dict[str, Json] = {"node_ready": node.ready, "ready_reason": node.ready_reason or None}
        usage = by_node.get(node.name)
        node_pods = pods_by_node.get(node.name, [])
        missing: list[Pod] = []
        stale = 0
        for p in node_pods:
            stamp = pod_stamp.get((p.namespace, p.name))
            if stamp is None:
                missing.append(p)
            elif stamp > 0 and now_s - stamp > max_age_s:
                stale += 1
        evidence["pods_checked"] = len(node_pods)
        evidence["pods_sampled"] = sampled
        evidence["pods_without_metrics"] = len(missing)
        if missing:
            evidence["pods_without_metrics_examples"] = [f"{p.namespace}/{p.name}" for p in missing[:5]]
        evidence["pods_stale"] = stale
        status, code = Status.OK, Code.OK
        if usage is None:
            status, code = Status.FAIL, Code.NODE_METRICS_MISSING
            summary = f"no NodeMetrics for {ready_text} node {node.name}"
            if node_pods:
                summary += f" ({len(missing)} of {len(node_pods)} running pods without PodMetrics)"
        else:
            age = now_s - usage.timestamp.timestamp() if usage.timestamp else None
            evidence["metrics_age_s"] = None if age is None else round(age, 1)
            evidence["cpu_nanocores"] = usage.cpu_nanocores
            evidence["memory_bytes"] = usage.memory_bytes
            if age is not None and age > policy.max_metrics_age_s:
                status, code = Status.FAIL, Code.METRICS_STALE
                summary = f"NodeMetrics of {node.name} are {age:.0f} s old (threshold {policy.max_metrics_age_s:.0f} s)"
            elif missing:
                status, code = Status.WARN, Code.NODE_METRICS_MISSING
                summary = f"{len(missing)} of {len(node_pods)} running pods on {node.name} have no PodMetrics"
            elif stale:
                status, code = Status.WARN, Code.METRICS_STALE
                summary = (
                    f"{stale} pods on {node.name} have PodMetrics older than {policy.max_metrics_age_s:.0f} s"
                )
            else:
                age_text = f"{age:.0f} s old" if age is not None else "no timestamp"
                summary = f"{node.name} ({ready_text}): NodeMetrics {age_text}, {len(node_pods)} pods covered"
            if status is not Status.OK and node.ready is False:
                summary += f"; the node is NotReady ({node.ready_reason or 'no reason'})"
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
    return out
