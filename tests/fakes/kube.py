"""In-memory fakes of the Kubernetes-side ports: a KubeTransport replaying recorded fixtures, a
CertificateSource returning prepared material, a TlsProber returning prepared peers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from metrics_guard.ports import Enough, HttpResponse, NodeMaterial, NodeRef, PeerCertificates

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s-v1.28.7"

Route = HttpResponse | Exception | Callable[[str], HttpResponse]


def load_fixture(name: str) -> HttpResponse:
    data = json.loads((FIXTURES / name).read_text())
    response = data["response"]
    body = response["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return HttpResponse(
        url=data["request"]["url"],
        status=response["status"],
        body=raw,
        headers=dict(response["headers"]),
        elapsed_s=float(response.get("elapsed_s") or 0.001),
    )


def json_response(path: str, body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(path, status, json.dumps(body).encode(), {"content-type": "application/json"}, 0.001)


def text_response(path: str, body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(path, status, body.encode(), {"content-type": "text/plain"}, 0.001)


def not_found(path: str) -> HttpResponse:
    return json_response(
        path,
        {"kind": "Status", "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404},
        404,
    )


@dataclass
class FakeTransport:
    """Answers GETs from ``routes`` (exact path first, then the path without its query); 404 otherwise."""

    endpoint: str = "https://front.test:6443"
    routes: dict[str, Route] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def get(
        self,
        path: str,
        *,
        accept: str = "application/json",
        timeout_s: float | None = None,
        enough: Enough | None = None,
    ) -> HttpResponse:
        self.calls.append(path)
        route = self.routes.get(path)
        if route is None:
            route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return not_found(path)
        if isinstance(route, Exception):
            raise route
        response = route if isinstance(route, HttpResponse) else route(path)
        return response if enough is None else prefix_of(response, enough)


def prefix_of(response: HttpResponse, enough: Enough, chunk: int = 1024) -> HttpResponse:
    """What the real transport returns when ``enough`` stops the read: the body fed in chunks as it would
    arrive, cut where ``enough`` says (or whole, when it never does)."""
    buffer = bytearray()
    for start in range(0, len(response.body), chunk):
        buffer += response.body[start : start + chunk]
        wanted = enough(buffer)
        if wanted is not None:
            return replace(response, body=bytes(buffer[:wanted]), partial=True)
    return response


@dataclass
class FakeCertificateSource:
    materials: Mapping[int, NodeMaterial]

    def read(self, nodes: Sequence[NodeRef]) -> Sequence[NodeMaterial]:
        return [self.materials[n.index] for n in nodes if n.index in self.materials]


@dataclass
class FakeTlsProber:
    peers: Mapping[str, PeerCertificates | Exception]

    def peer_certificates(
        self, host: str, port: int, *, server_name: str, ca_pem: str | None, timeout_s: float
    ) -> PeerCertificates:
        peer = self.peers.get(f"{host}:{port}")
        if peer is None:
            from metrics_guard.errors import KubeConnectError

            raise KubeConnectError(f"{host}:{port}: connection refused")
        if isinstance(peer, Exception):
            raise peer
        return peer


# ------------------------------------------------------------------------------- a fixture-driven cluster


def _node(name: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-11-25T17:00:00Z"},
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                }
            ],
            "addresses": [{"type": "InternalIP", "address": f"198.18.0.{name[-1]}"}],
        },
    }


def _pod(
    ns: str, name: str, node: str, *, ready: bool = True, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name, "labels": labels or {}},
        "spec": {"nodeName": node},
        "status": {
            "phase": "Running",
            "startTime": "2026-11-25T17:00:00Z",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def fixture_cluster(
    scenario: str = "healthy",
    *,
    metrics_server_ready: bool = True,
    node_ready: Mapping[str, bool] | None = None,
    configmap: HttpResponse | None = None,
) -> FakeTransport:
    """A front transport replaying the recorded responses of one scenario (``healthy`` or ``fault_<name>``),
    completed with synthetic Nodes, Pods, the metrics-server Service and its EndpointSlice."""
    if scenario == "healthy":
        names = {
            "apiservice": "apiservice_healthy.json",
            "apis": "discovery_apis_aggregated_healthy.json",
            "gv": "metrics_discovery_healthy.json",
            "nodes": "metrics_nodes_healthy.json",
            "pods": "metrics_pods_healthy.json",
        }
    else:
        names = {
            "apiservice": f"{scenario}_apiservice.json",
            "apis": f"{scenario}_discovery_apis_aggregated.json",
            "gv": f"{scenario}_metrics_discovery.json",
            "nodes": f"{scenario}_metrics_nodes.json",
            "pods": f"{scenario}_metrics_nodes.json",
        }
    ready = dict(node_ready or {})
    ms_labels = {"k8s-app": "metrics-server"}
    routes: dict[str, Route] = {
        "/version": load_fixture("cluster_version.json"),
        "/api": load_fixture("cluster_api_legacy_discovery.json"),
        "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io": load_fixture(
            names["apiservice"]
        ),
        "/apis": load_fixture(names["apis"]),
        "/apis/metrics.k8s.io/v1beta1": load_fixture(names["gv"]),
        "/apis/metrics.k8s.io/v1beta1/nodes": load_fixture(names["nodes"]),
        "/apis/metrics.k8s.io/v1beta1/pods": load_fixture(names["pods"]),
        "/api/v1/nodes": json_response(
            "/api/v1/nodes",
            {
                "kind": "NodeList",
                "metadata": {},
                "items": [_node(n, ready=ready.get(n, True)) for n in ("node-1", "node-2")],
            },
        ),
        "/api/v1/pods": json_response(
            "/api/v1/pods",
            {
                "kind": "PodList",
                "metadata": {},
                "items": [
                    _pod(
                        "kube-system",
                        "metrics-server-abc12",
                        "node-2",
                        ready=metrics_server_ready,
                        labels=ms_labels,
                    ),
                    _pod("default", "web-0", "node-1"),
                ],
            },
        ),
        "/api/v1/namespaces/kube-system/pods": json_response(
            "/api/v1/namespaces/kube-system/pods",
            {
                "kind": "PodList",
                "metadata": {},
                "items": [
                    _pod(
                        "kube-system",
                        "metrics-server-abc12",
                        "node-2",
                        ready=metrics_server_ready,
                        labels=ms_labels,
                    )
                ],
            },
        ),
        "/api/v1/namespaces/kube-system/services/metrics-server": json_response(
            "svc",
            {
                "kind": "Service",
                "metadata": {"namespace": "kube-system", "name": "metrics-server"},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": "10.96.0.10",
                    "selector": ms_labels,
                    "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
                },
            },
        ),
        "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices": json_response(
            "eps",
            {
                "kind": "EndpointSliceList",
                "metadata": {},
                "items": [
                    {
                        "endpoints": [
                            {
                                "addresses": ["198.18.0.100"],
                                "conditions": {"ready": metrics_server_ready},
                                "nodeName": "node-2",
                            }
                        ],
                        "ports": [{"name": "https", "port": 10250}],
                    }
                ],
            },
        ),
        "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication": configmap
        or load_fixture("cluster_extension_apiserver_authentication_configmap.json"),
    }
    return FakeTransport(routes=routes)


def unavailable_metrics(value: int, name: str = "v1beta1.metrics.k8s.io") -> str:
    return (
        "# HELP aggregator_unavailable_apiservice [STABLE] Gauge of APIServices which are marked as unavailable\n"
        "# TYPE aggregator_unavailable_apiservice gauge\n"
        f'aggregator_unavailable_apiservice{{name="v1.apps"}} 0\n'
        f'aggregator_unavailable_apiservice{{name="{name}"}} {value}\n'
    )
