"""The real node script, run by the LocalCommandRunner against the devcluster's node roots."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence

import pytest

from demo.local import LocalCluster
from metrics_guard.adapters.local_runner import LocalCommandRunner, LocalMaterialStore
from metrics_guard.ports import NodeRef
from metrics_guard.service.remediate_ports import (
    CommandProgress,
    InvocationState,
    RolloutCommand,
    Strategy,
)
from tests.integration.conftest import DevclusterHandle, FaultFactory
from tests.integration.responder.conftest import issue

pytestmark = pytest.mark.integration

APISERVICE = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io"


def run(
    runner: LocalCommandRunner,
    materials: LocalMaterialStore,
    local: LocalCluster,
    nodes: Sequence[NodeRef],
    *,
    bundle: str,
    sha256: str,
    strategy: Strategy = "reload-then-restart",
) -> CommandProgress:
    rollout_id = uuid.uuid4().hex[:12]
    parameter = f"/metrics-guard/rollout/devcluster/{rollout_id}"
    materials.put(parameter, bundle)
    try:
        command = RolloutCommand(
            rollout_id=rollout_id,
            cluster="devcluster",
            nodes=tuple(nodes),
            parameter_name=parameter,
            expected_sha256=sha256,
            strategy=strategy,
            kubeconfig_path=str(local.kubeconfig_admin),
            node_timeout_s=120,
            reload_wait_s=45,
        )
        command_id = runner.start(command)
        return runner.wait(command_id, nodes, timeout_s=900)
    finally:
        materials.delete(parameter)


def apiservice_available(devcluster: DevclusterHandle, index: int) -> bool:
    url = devcluster.apiserver_urls[index - 1]
    out = devcluster.kubectl("--server", url, "get", "--raw", APISERVICE)
    if out.returncode != 0:
        return False
    conditions = json.loads(out.stdout).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def wait_for(predicate: object, timeout_s: float = 120) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(3)
    return bool(predicate())


def test_fresh_cert_on_apiserver_2_recovers_the_aggregator_and_a_second_run_changes_nothing(
    devcluster: DevclusterHandle,
    fault: FaultFactory,
    local: LocalCluster,
    runner: LocalCommandRunner,
    materials: LocalMaterialStore,
) -> None:
    node2 = local.node(2)
    url2 = devcluster.apiserver_urls[1]
    with fault("proxy-cert-expired", apiserver=2):
        top = devcluster.kubectl("--server", url2, "top", "nodes")
        assert top.returncode != 0, "the fault should break kubectl top through apiserver 2"
        issued = issue(local)
        progress = run(runner, materials, local, [node2], bundle=issued.bundle_b64(), sha256=issued.sha256)
        assert progress.succeeded, progress
        result = progress.nodes[0].result
        assert result is not None and result.changed and result.cert_sha256 == issued.sha256
        assert wait_for(lambda: apiservice_available(devcluster, 2))
        assert wait_for(lambda: devcluster.kubectl("--server", url2, "top", "nodes").returncode == 0)
        top = devcluster.kubectl("--server", url2, "top", "nodes", check=True)
        assert "node-1" in top.stdout
        before = local.hashes(2)
        again = run(runner, materials, local, [node2], bundle=issued.bundle_b64(), sha256=issued.sha256)
        assert again.succeeded, again
        second = again.nodes[0].result
        assert second is not None and not second.changed and not second.restarted, second
        assert local.hashes(2) == before
        assert not materials.names(), "material removed after each run"


@pytest.mark.slow
def test_rollback_restores_node_2_byte_identical_and_stops_the_rollout(
    fault: FaultFactory,
    local: LocalCluster,
    runner: LocalCommandRunner,
    materials: LocalMaterialStore,
) -> None:
    with fault("proxy-cert-expired", apiserver=2), fault("apiserver-restart-fails", apiserver=2):
        before = {i: local.hashes(i) for i in (2, 3)}
        issued = issue(local)
        progress = run(
            runner,
            materials,
            local,
            [local.node(2), local.node(3)],
            bundle=issued.bundle_b64(),
            sha256=issued.sha256,
            strategy="restart",
        )
        assert not progress.succeeded
        states = {o.node.index: o.state for o in progress.nodes}
        assert states == {2: InvocationState.FAILED, 3: InvocationState.NOT_RUN}, progress
        assert [i for _, i in runner.executions] == [2], "node 3 untouched"
        assert local.hashes(2) == before[2], "node 2 restored byte-identical"
        assert local.hashes(3) == before[3]


def test_requestheader_reader_reads_the_clusters_ca_and_allowed_names(local: LocalCluster) -> None:
    from demo.local import kube_transport
    from metrics_guard.adapters.requestheader import KubeRequestheaderReader

    config = KubeRequestheaderReader(kube_transport(local)).read("devcluster")
    ca_pem, _ = local.requestheader_ca()
    assert config.allowed_names == ("aggregator",)
    assert ca_pem.strip() + "\n" in config.ca_pems
