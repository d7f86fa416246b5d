"""The two ways of listing running pods agree on the real kube-apiserver: the one Table with each pod's
metadata, and the cells-only Tables per namespace (what a large cluster gets), through the metrics-guard
user's RBAC."""

from __future__ import annotations

import time

import pytest

from metrics_guard.adapters.kube import transport_from_kubeconfig
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import Pod
from metrics_guard.service import probe
from tests.integration.conftest import DevclusterHandle

pytestmark = pytest.mark.integration


def test_per_namespace_cells_agree_with_the_one_table(
    devcluster: DevclusterHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = transport_from_kubeconfig(str(devcluster.kubeconfig_metrics_guard), None)
    policy = ProbePolicy()
    call, one_table = probe.list_running_pods(transport, policy, probe._Deadline(30))
    assert call.ok and one_table.value, call.error
    monkeypatch.setattr(probe, "BY_NAMESPACE_FROM_PODS", 1)
    call, by_namespace = probe.list_running_pods(transport, policy, probe._Deadline(30))
    assert call.ok and by_namespace.value, call.error
    assert "/namespaces/" in call.path, "the large-cluster path was not taken (namespaces not listable?)"

    def key(p: Pod) -> tuple[str, str, str, bool, bool]:
        return (p.namespace, p.name, p.node, p.ready, p.deleting)

    assert sorted(map(key, by_namespace.value)) == sorted(map(key, one_table.value))
    created = {(p.namespace, p.name): p.started for p in one_table.value}
    for pod in by_namespace.value:
        # Age is rounded down by the server's printer (seconds under 10 minutes, then minutes, ...)
        assert pod.started >= created[(pod.namespace, pod.name)] - 1
        assert pod.started <= time.time()
        assert not pod.started_exact
