"""metrics.k8s.io/v1beta1 NodeMetricsList and PodMetricsList.

The pod list can be 60 MB for 150,000 pods: the decoder keeps one compact tuple per pod (no per-container
objects, timestamps parsed once per distinct string) and drops the JSON tree as soon as it has walked it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from metrics_guard.decode._json import as_dict, as_list, as_str, load_object, parse_duration_s, parse_time
from metrics_guard.decode.quantity import cpu_nanocores, memory_bytes
from metrics_guard.errors import DecodeError


class RawUsage(TypedDict, total=False):
    cpu: str
    memory: str


class RawContainerMetrics(TypedDict, total=False):
    name: str
    usage: RawUsage


class RawNodeMetrics(TypedDict, total=False):
    metadata: dict[str, Any]
    timestamp: str
    window: str
    usage: RawUsage


class RawPodMetrics(TypedDict, total=False):
    metadata: dict[str, Any]
    timestamp: str
    window: str
    containers: list[RawContainerMetrics]


@dataclass(frozen=True, slots=True)
class NodeUsage:
    name: str
    timestamp: datetime | None
    window_s: float | None
    cpu_nanocores: int
    memory_bytes: int


class PodUsage(NamedTuple):
    """One PodMetrics, compact: ``timestamp`` is POSIX seconds (0.0 when absent)."""

    namespace: str
    name: str
    timestamp: float
    containers: int
    cpu_nanocores: int
    memory_bytes: int


def _usage(raw: Any, *, what: str) -> tuple[int, int]:
    usage = as_dict(raw)
    try:
        return cpu_nanocores(as_str(usage.get("cpu"), "0")), memory_bytes(as_str(usage.get("memory"), "0"))
    except DecodeError as exc:
        raise DecodeError(f"{what}: {exc}") from exc


def decode_node_metrics_list(body: bytes | str) -> tuple[NodeUsage, ...]:
    data = load_object(body, what="NodeMetricsList", kinds=("NodeMetricsList",))
    out: list[NodeUsage] = []
    for raw in as_list(data.get("items"), what="NodeMetricsList"):
        item = as_dict(raw)
        name = as_str(as_dict(item.get("metadata")).get("name"))
        cpu, memory = _usage(item.get("usage"), what=f"NodeMetrics {name}")
        out.append(
            NodeUsage(
                name=name,
                timestamp=parse_time(item.get("timestamp"), what=f"NodeMetrics {name}"),
                window_s=parse_duration_s(item.get("window")),
                cpu_nanocores=cpu,
                memory_bytes=memory,
            )
        )
    return tuple(out)


def decode_pod_metrics_list(body: bytes | str) -> tuple[PodUsage, ...]:
    data = load_object(body, what="PodMetricsList", kinds=("PodMetricsList",))
    items = as_list(data.pop("items", None), what="PodMetricsList")
    del data
    stamps: dict[str, float] = {}
    out: list[PodUsage] = []
    append = out.append
    for raw in items:
        meta = raw.get("metadata") or {}
        stamp_text = raw.get("timestamp") or ""
        stamp = stamps.get(stamp_text)
        if stamp is None:
            moment = parse_time(stamp_text, what="PodMetrics")
            stamp = stamps[stamp_text] = moment.timestamp() if moment else 0.0
        cpu = memory = 0
        containers = raw.get("containers") or ()
        for container in containers:
            usage = container.get("usage") or {}
            c_text = usage.get("cpu", "0")
            m_text = usage.get("memory", "0")
            try:
                cpu += int(c_text[:-1]) if c_text[-1:] == "n" else cpu_nanocores(c_text)
                memory += int(m_text[:-2]) * 1024 if m_text[-2:] == "Ki" else memory_bytes(m_text)
            except (ValueError, TypeError, DecodeError) as exc:
                raise DecodeError(f"PodMetrics {meta.get('name')!s}: bad usage") from exc
        append(PodUsage(meta.get("namespace", ""), meta.get("name", ""), stamp, len(containers), cpu, memory))
    items.clear()
    return tuple(out)
