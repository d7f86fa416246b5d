"""The kubelet's /metrics/resource in Prometheus text format, with plausible, time-varying values.

CPU counters are integrals of a rate that oscillates around a per-container base, so they only ever
grow; memory is a gauge oscillating around a base. Values are deterministic in (seed, time).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Container:
    namespace: str
    pod: str
    name: str
    start_time: float  # unix seconds


def _seed(*parts: str) -> float:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def cpu_seconds(seed: float, base_cores: float, since: float, now: float) -> float:
    """Cumulative core-seconds of rate base*(1 + 0.5 sin(w t + phase)) from `since` to `now`."""
    period = 120.0 + 180.0 * seed
    w = 2 * math.pi / period
    phase = 2 * math.pi * seed
    elapsed = max(0.0, now - since)
    integral = elapsed - 0.5 / w * (math.cos(w * now + phase) - math.cos(w * since + phase))
    return base_cores * integral


def memory_bytes(seed: float, base: float, now: float) -> float:
    period = 90.0 + 120.0 * seed
    return base * (1.0 + 0.15 * math.sin(2 * math.pi * now / period + 2 * math.pi * seed))


def container_usage(c: Container, now: float) -> tuple[float, float]:
    """(cpu core-seconds since start, working set bytes) of one container."""
    s = _seed(c.namespace, c.pod, c.name)
    base_cores = 0.005 + 0.095 * s  # 5m .. 100m
    base_mem = (16 + 240 * s) * 2**20  # 16Mi .. 256Mi
    return cpu_seconds(s, base_cores, c.start_time, now), memory_bytes(s, base_mem, now)


def _fmt(v: float) -> str:
    return repr(float(v))


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(node: str, node_boot: float, containers: Sequence[Container], now: float) -> str:
    """The body of GET /metrics/resource for `node` at time `now` (unix seconds)."""
    ts = str(int(now * 1000))
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} [STABLE] {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    usage = {c: container_usage(c, now) for c in containers}
    family(
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed by the container in core-seconds",
    )
    for c, (cpu, _) in usage.items():
        lines.append(
            f"container_cpu_usage_seconds_total{_labels(container=c.name, namespace=c.namespace, pod=c.pod)}"
            f" {_fmt(cpu)} {ts}"
        )
    family("container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes")
    for c, (_, mem) in usage.items():
        lines.append(
            f"container_memory_working_set_bytes{_labels(container=c.name, namespace=c.namespace, pod=c.pod)}"
            f" {_fmt(round(mem))} {ts}"
        )
    family("container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds")
    for c in containers:
        lines.append(
            f"container_start_time_seconds{_labels(container=c.name, namespace=c.namespace, pod=c.pod)}"
            f" {_fmt(c.start_time)} {ts}"
        )

    node_seed = _seed("node", node)
    system_cpu = cpu_seconds(node_seed, 0.05 + 0.1 * node_seed, node_boot, now)
    system_mem = memory_bytes(node_seed, (400 + 400 * node_seed) * 2**20, now)
    node_cpu = system_cpu + sum(cpu for cpu, _ in usage.values())
    node_mem = system_mem + sum(mem for _, mem in usage.values())
    family(
        "node_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the node in core-seconds"
    )
    lines.append(f"node_cpu_usage_seconds_total {_fmt(node_cpu)} {ts}")
    family("node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes")
    lines.append(f"node_memory_working_set_bytes {_fmt(round(node_mem))} {ts}")

    pods: dict[tuple[str, str], tuple[float, float]] = {}
    for c, (cpu, mem) in usage.items():
        prev = pods.get((c.namespace, c.pod), (0.0, 0.0))
        pods[(c.namespace, c.pod)] = (prev[0] + cpu, prev[1] + mem)
    family(
        "pod_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the pod in core-seconds"
    )
    for (ns, pod), (cpu, _) in pods.items():
        lines.append(f"pod_cpu_usage_seconds_total{_labels(namespace=ns, pod=pod)} {_fmt(cpu)} {ts}")
    family("pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes")
    for (ns, pod), (_, mem) in pods.items():
        lines.append(f"pod_memory_working_set_bytes{_labels(namespace=ns, pod=pod)} {_fmt(round(mem))} {ts}")
    family(
        "resource_scrape_error",
        "gauge",
        "1 if there was an error while getting container metrics, 0 otherwise",
    )
    lines.append(f"resource_scrape_error 0 {ts}")
    return "\n".join(lines) + "\n"
