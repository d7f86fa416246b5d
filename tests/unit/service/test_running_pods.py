"""list_running_pods: one Table with the pods' metadata, or in a large cluster one cells-only Table per
namespace (several at a time), and back to the one Table when the namespaces cannot be listed."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from metrics_guard import bulk
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import POD_TABLE_QUERY
from metrics_guard.ports import HttpResponse
from metrics_guard.service import probe
from metrics_guard.service.probe import _Deadline, list_running_pods
from tests.fakes.kube import FakeTransport, json_response

COLUMNS = ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [{"name": c, "type": "string"} for c in COLUMNS],
        "rows": rows,
    }


def _cells(name: str, node: str) -> dict[str, Any]:
    return {"cells": [name, "1/1", "Running", 0, "5m", "10.0.0.1", node, "<none>", "<none>"]}


def _with_object(ns: str, name: str, node: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns, "creationTimestamp": "2026-12-03T16:00:00Z"}
    return {**_cells(name, node), "object": {"kind": "PartialObjectMetadata", "metadata": meta}}


def _size(total: int) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadataList", "metadata": {"remainingItemCount": total - 1}, "items": [{}]}


def _transport(total: int, namespaces: HttpResponse | None = None) -> FakeTransport:
    by_ns = {"a": [_cells("a1", "n1"), _cells("a2", "n2")], "b": [_cells("b1", "n1")]}
    routes: dict[str, Any] = {
        "/api/v1/pods?limit=1": json_response("size", _size(total)),
        "/api/v1/namespaces?limit=500": namespaces
        or json_response(
            "ns", {"kind": "NamespaceList", "items": [{"metadata": {"name": n}} for n in by_ns]}
        ),
        f"{probe.RUNNING_PODS_PATH}&{POD_TABLE_QUERY}&limit=5000&resourceVersion=0": json_response(
            "all", _table([_with_object("a", "a1", "n1"), _with_object("b", "b1", "n1")])
        ),
    }
    for ns, rows in by_ns.items():
        path = f"/api/v1/namespaces/{ns}/pods?fieldSelector=status.phase%3DRunning&includeObject=None&resourceVersion=0"
        routes[path] = json_response(ns, _table(rows))
    return FakeTransport(routes=routes)


def _names(result: Any) -> list[tuple[str, str, str]]:
    return sorted((p.namespace, p.name, p.node) for p in result[1].value)


def test_a_small_cluster_is_listed_in_one_table_with_metadata() -> None:
    transport = _transport(total=50)
    result = list_running_pods(transport, ProbePolicy(), _Deadline(5))
    assert _names(result) == [("a", "a1", "n1"), ("b", "b1", "n1")]
    assert not any("/namespaces/" in c for c in transport.calls)


def test_a_large_cluster_is_listed_namespace_by_namespace() -> None:
    transport = _transport(total=probe.BY_NAMESPACE_FROM_PODS)
    result = list_running_pods(transport, ProbePolicy(), _Deadline(5))
    assert result[0].ok and result[0].response is not None and result[0].response.body == b""
    assert _names(result) == [("a", "a1", "n1"), ("a", "a2", "n2"), ("b", "b1", "n1")]
    assert all(not p.started_exact and p.started > 0 for p in result[1].value or ())


@pytest.mark.parametrize(
    ("metrics_bytes", "by_namespace"),
    [
        (probe.BY_NAMESPACE_FROM_PODS * probe.POD_METRICS_BYTES_PER_POD, True),
        (1000, False),
    ],
)
def test_the_pod_metrics_size_says_how_large_without_a_request(
    metrics_bytes: int, by_namespace: bool
) -> None:
    transport = _transport(total=probe.BY_NAMESPACE_FROM_PODS)  # the size GET would say: large
    asked = threading.Event()

    def size() -> int:
        asked.set()
        return metrics_bytes

    result = list_running_pods(transport, ProbePolicy(), _Deadline(5), pod_metrics_bytes=size)
    assert asked.is_set() and "/api/v1/pods?limit=1" not in transport.calls
    assert any("/namespaces/a/pods" in c for c in transport.calls) is by_namespace
    assert (
        ("a", "a2", "n2") in _names(result)
        if by_namespace
        else _names(result)
        == [
            ("a", "a1", "n1"),
            ("b", "b1", "n1"),
        ]
    )


def test_without_rbac_for_namespaces_the_one_table_is_used() -> None:
    forbidden = json_response("ns", {"kind": "Status", "code": 403, "reason": "Forbidden"}, 403)
    transport = _transport(total=probe.BY_NAMESPACE_FROM_PODS, namespaces=forbidden)
    result = list_running_pods(transport, ProbePolicy(), _Deadline(5))
    assert _names(result) == [("a", "a1", "n1"), ("b", "b1", "n1")]


def test_a_failed_namespace_list_is_the_whole_lists_failure() -> None:
    transport = _transport(total=probe.BY_NAMESPACE_FROM_PODS)
    path = (
        "/api/v1/namespaces/b/pods?fieldSelector=status.phase%3DRunning&includeObject=None&resourceVersion=0"
    )
    transport.routes[path] = json_response("b", {"kind": "Status", "code": 500}, 500)
    call, pods = list_running_pods(transport, ProbePolicy(), _Deadline(5))
    assert call.status == 500 and pods.value is None


def test_bulk_pauses_the_collector_while_any_call_runs_and_restores_it() -> None:
    assert gc.isenabled()
    inside: list[bool] = []
    release = threading.Event()

    @bulk.bulk
    def work(wait: bool) -> None:
        inside.append(gc.isenabled())
        if wait:
            release.wait(5)

    worker = threading.Thread(target=work, args=(True,))
    worker.start()
    work(False)  # nested in time with the worker's call: the collector stays paused after this one
    assert not gc.isenabled()
    release.set()
    worker.join(5)
    assert inside == [False, False] and gc.isenabled()


def test_bulk_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        bulk.bulk(lambda: None)()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("error", [ValueError("boom")])
def test_bulk_restores_the_collector_when_the_call_raises(error: Exception) -> None:
    def fail() -> None:
        raise error

    with pytest.raises(ValueError, match="boom"):
        bulk.bulk(fail)()
    assert gc.isenabled()
