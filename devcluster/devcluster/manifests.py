"""The Kubernetes objects the devcluster creates at `up` (as JSON bodies with their collection paths)."""

from __future__ import annotations

import base64
from typing import Any

Obj = dict[str, Any]
Item = tuple[str, Obj]

METRICS_SERVER_POD = "metrics-server-7d4f8b6c9d-x2k4q"
POD_IP_ANNOTATION = "devcluster.metrics-guard.io/pod-ip"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
WORKLOAD_NAMESPACES = ("default", "apps")


def _meta(name: str, namespace: str | None = None, **labels: str) -> Obj:
    m: Obj = {"name": name}
    if namespace:
        m["namespace"] = namespace
    if labels:
        m["labels"] = labels
    return m


def cluster_role(name: str, rules: list[Obj]) -> Item:
    return f"{RBAC}/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name),
        "rules": rules,
    }


def cluster_role_binding(name: str, role: str, user: str) -> Item:
    return f"{RBAC}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def role(name: str, namespace: str, rules: list[Obj]) -> Item:
    return f"{RBAC}/namespaces/{namespace}/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(name, namespace),
        "rules": rules,
    }


def role_binding(name: str, namespace: str, role_name: str, user: str) -> Item:
    return f"{RBAC}/namespaces/{namespace}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


METRICS_GUARD_RULES: list[Obj] = [
    {"apiGroups": ["apiregistration.k8s.io"], "resources": ["apiservices"], "verbs": ["get", "list"]},
    {
        "apiGroups": [""],
        "resources": ["nodes", "pods", "services", "endpoints", "namespaces"],
        "verbs": ["get", "list"],
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list"]},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
    {
        "nonResourceURLs": [
            "/metrics",
            "/readyz",
            "/livez",
            "/apis",
            "/apis/*",
            "/api",
            "/api/*",
            "/version",
        ],
        "verbs": ["get"],
    },
]
METRICS_GUARD_CONFIGMAP_RULES: list[Obj] = [
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["extension-apiserver-authentication"],
        "verbs": ["get"],
    },
]


def bootstrap(ca_pem: bytes, ms_ip: str, ms_node: str, ms_port: int) -> list[Item]:
    ms_user = "system:metrics-server"
    items: list[Item] = [
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("apps")}),
        # metrics-server's identity
        cluster_role(
            "system:metrics-server",
            [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
            ],
        ),
        cluster_role_binding("system:metrics-server", "system:metrics-server", ms_user),
        cluster_role_binding("metrics-server:system:auth-delegator", "system:auth-delegator", ms_user),
        (
            f"{RBAC}/namespaces/kube-system/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta("metrics-server-auth-reader", "kube-system"),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "extension-apiserver-authentication-reader",
                },
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ms_user}],
            },
        ),
        # the checker's read-only identity
        cluster_role("metrics-guard", METRICS_GUARD_RULES),
        cluster_role_binding("metrics-guard", "metrics-guard", "metrics-guard"),
        role("metrics-guard", "kube-system", METRICS_GUARD_CONFIGMAP_RULES),
        role_binding("metrics-guard", "kube-system", "metrics-guard", "metrics-guard"),
        # metrics-server as a workload: ServiceAccount, Service with a selector, its Pod, the APIService
        (
            "/api/v1/namespaces/kube-system/serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _meta("metrics-server", "kube-system"),
            },
        ),
        (
            "/api/v1/namespaces/kube-system/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta("metrics-server", "kube-system", **{"k8s-app": "metrics-server"}),
                "spec": {
                    "selector": {"k8s-app": "metrics-server"},
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}],
                },
            },
        ),
        ("/api/v1/namespaces/kube-system/pods", metrics_server_pod(ms_ip, ms_node, ms_port)),
        (
            "/apis/apiregistration.k8s.io/v1/apiservices",
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": _meta("v1beta1.metrics.k8s.io", **{"k8s-app": "metrics-server"}),
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "insecureSkipTLSVerify": False,
                    "caBundle": base64.b64encode(ca_pem).decode(),
                    "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                },
            },
        ),
    ]
    for ns in WORKLOAD_NAMESPACES:
        items.append(
            (
                f"/api/v1/namespaces/{ns}/serviceaccounts",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("default", ns)},
            )
        )
    return items


def metrics_server_pod(ms_ip: str, node: str, port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": METRICS_SERVER_POD,
            "namespace": "kube-system",
            "labels": {"k8s-app": "metrics-server", "pod-template-hash": "7d4f8b6c9d"},
            # the simulated runtime's sandbox: metrics-server's network namespace has this address
            "annotations": {POD_IP_ANNOTATION: ms_ip},
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": "metrics-server",
            "automountServiceAccountToken": False,
            "priorityClassName": "system-cluster-critical",
            "containers": [
                {
                    "name": "metrics-server",
                    "image": "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
                    "args": [
                        "--secure-port=10250",
                        "--metric-resolution=15s",
                        "--kubelet-preferred-address-types=InternalIP",
                    ],
                    "ports": [{"name": "https", "containerPort": port, "protocol": "TCP"}],
                    "readinessProbe": {
                        "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
                        "periodSeconds": 2,
                        "timeoutSeconds": 1,
                        "failureThreshold": 2,
                    },
                    "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
                }
            ],
        },
    }


def workload_pods(nodes: list[str], per_node: int) -> list[Item]:
    apps = ["web", "api", "worker", "cache", "cron"]
    items: list[Item] = []
    for node in nodes:
        for k in range(per_node):
            ns = WORKLOAD_NAMESPACES[k % len(WORKLOAD_NAMESPACES)]
            app = apps[k % len(apps)]
            name = f"{app}-{node}-{k + 1}"
            containers: list[Obj] = [
                {
                    "name": app,
                    "image": f"registry.example/{app}:1.0",
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                }
            ]
            if k % 2 == 1:
                containers.append(
                    {
                        "name": "sidecar",
                        "image": "registry.example/sidecar:1.0",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }
                )
            items.append(
                (
                    f"/api/v1/namespaces/{ns}/pods",
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": _meta(name, ns, app=app),
                        "spec": {
                            "nodeName": node,
                            "automountServiceAccountToken": False,
                            "containers": containers,
                        },
                    },
                )
            )
    return items
