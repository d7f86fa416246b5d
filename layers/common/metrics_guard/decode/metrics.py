"""metrics.k8s.io/v1beta1 NodeMetricsList and PodMetricsList.

The pod list can be 60 MB for 150,000 pods. ``json.loads`` of such a body builds a tree of ~450 MiB; the pod
decoder never builds it: it walks the top-level object itself and parses one item at a time with the C
scanner of ``json`` (``scan_once``), folding each into one compact tuple (no per-container objects,
timestamps parsed once per distinct string) before the next. Peak memory is the body, its text and the
tuples; the cyclic GC is paused meanwhile (only short-lived dicts are made).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from metrics_guard.bulk import bulk
from metrics_guard.decode._json import (
    as_dict,
    as_list,
    as_str,
    check_body,
    json_error,
    load_object,
    parse_duration_s,
    parse_time,
    walk_list,
)
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


@bulk
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


class _Folder:
    """Folds PodMetrics items into PodUsage tuples, one at a time."""

    def __init__(self) -> None:
        self.stamps: dict[str, float] = {}
        self.out: list[PodUsage] = []

    def add(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise DecodeError(f"PodMetricsList: item is a {type(raw).__name__}, not an object")
        meta = raw.get("metadata") or {}
        stamp_text = raw.get("timestamp") or ""
        stamp = self.stamps.get(stamp_text)
        if stamp is None:
            moment = parse_time(stamp_text, what="PodMetrics")
            stamp = self.stamps[stamp_text] = moment.timestamp() if moment else 0.0
        cpu = memory = 0
        containers = raw.get("containers") or ()
        for container in containers:
            usage = container.get("usage") or {}
            c_text = usage.get("cpu", "0")
            m_text = usage.get("memory", "0")
            try:
                cpu += int(c_text[:-1]) if c_text[-1:] == "n" else cpu_nanocores(c_text)
                memory += int(m_text[:-2]) * 1024 if m_text[-2:] == "Ki" else memory_bytes(m_text)
            except (ValueError, TypeError, AttributeError, DecodeError) as exc:
                raise DecodeError(f"PodMetrics {meta.get('name')!s}: bad usage") from exc
        self.out.append(
            PodUsage(meta.get("namespace", ""), meta.get("name", ""), stamp, len(containers), cpu, memory)
        )


@bulk
def decode_pod_metrics_list(body: bytes | str) -> tuple[PodUsage, ...]:
    """One compact tuple per pod; the list is walked item by item (``walk_list``), never one tree."""
    what = "PodMetricsList"
    check_body(body, what=what)
    folder = _Folder()
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise json_error(exc, body, what=what) from exc
    kind = walk_list(text, "items", folder.add, what=what).get("kind")
    if kind != what:
        raise DecodeError(f"{what}: expected kind {what}, got {kind!r}")
    return tuple(folder.out)
