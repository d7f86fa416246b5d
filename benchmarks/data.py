"""Generated Metrics API data at scale, shaped as metrics-server's: 150,000 PodMetrics with 1-3 containers
(~248,000 containers, ~60 MB of JSON) and 5,000 NodeMetrics, and the Pod and Node objects they describe.

Every body is produced with a fixed-width placeholder timestamp (``STAMP``) so that a server can stamp it
fresh with one ``bytes.replace`` of the same length.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

STAMP: Final = "2000-01-01T00:00:00Z"
NAMESPACES: Final = 50


@dataclass(frozen=True, slots=True)
class Scale:
    nodes: int = 5_000
    pods: int = 150_000

    def node_name(self, i: int) -> str:
        return f"bench-node-{i:05d}"

    def namespace(self, i: int) -> str:
        return f"bench-{i % NAMESPACES:02d}"

    def pod(self, i: int) -> tuple[str, str, str]:
        """namespace, name, node of pod ``i``."""
        return self.namespace(i), f"app-{i:06d}-7d4f8b6c9d-x2k4q", self.node_name(i % self.nodes)

    @staticmethod
    def containers(i: int) -> int:
        # 1, 2 or 3 containers: 248,000 for 150,000 pods, as in the measured baseline of the platform notes
        return 1 + (i % 3 == 0) + (i % 5 == 0) - (i % 15 == 0) + (i % 7 == 0) - (i % 21 == 0) + (i % 25 == 0)


def _container_names(n: int) -> list[str]:
    return ["app", "istio-proxy", "log-shipper", "config-reloader"][:n]


def pod_metrics_items(scale: Scale, extra: list[tuple[str, str, int]] = ()) -> Iterator[dict[str, Any]]:  # type: ignore[assignment]
    for i in range(scale.pods):
        ns, name, _node = scale.pod(i)
        yield {
            "metadata": {
                "name": name,
                "namespace": ns,
                "creationTimestamp": STAMP,
                "labels": {
                    "app": f"app-{i % 997}",
                    "app.kubernetes.io/part-of": "bench-suite",
                    "pod-template-hash": "7d4f8b6c9d",
                },
            },
            "timestamp": STAMP,
            "window": "15.012s",
            "containers": [
                {
                    "name": c,
                    "usage": {
                        "cpu": f"{(i * 7919 + k * 104729) % 900_000_000 + 1000}n",
                        "memory": f"{(i * 31 + k) % 500_000 + 2048}Ki",
                    },
                }
                for k, c in enumerate(_container_names(scale.containers(i)))
            ],
        }
    for ns, name, count in extra:
        yield {
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": STAMP},
            "timestamp": STAMP,
            "window": "15.012s",
            "containers": [
                {"name": c, "usage": {"cpu": "1234567n", "memory": "20480Ki"}}
                for c in _container_names(count)
            ],
        }


def _list(kind: str, items: Iterator[dict[str, Any]]) -> bytes:
    head = json.dumps(
        {"kind": kind, "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}}, separators=(",", ":")
    )[:-1]
    parts = [head, ',"items":[']
    first = True
    for item in items:
        if not first:
            parts.append(",")
        parts.append(json.dumps(item, separators=(",", ":")))
        first = False
    parts.append("]}")
    return "".join(parts).encode()


def pod_metrics_list(scale: Scale, extra: list[tuple[str, str, int]] | None = None) -> bytes:
    return _list("PodMetricsList", pod_metrics_items(scale, extra or []))


def node_metrics_list(names: list[str]) -> bytes:
    items = (
        {
            "metadata": {"name": n, "creationTimestamp": STAMP, "labels": {"kubernetes.io/hostname": n}},
            "timestamp": STAMP,
            "window": "20.033s",
            "usage": {
                "cpu": f"{(i * 7919) % 4_000_000_000 + 1000}n",
                "memory": f"{(i * 31) % 16_000_000 + 65536}Ki",
            },
        }
        for i, n in enumerate(names)
    )
    return _list("NodeMetricsList", items)
