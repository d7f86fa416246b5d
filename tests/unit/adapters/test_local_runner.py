"""The local runner runs the real node script against node roots, one node at a time, stopping at a failure."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics_guard.adapters.local_runner import LocalCommandRunner, LocalMaterialStore
from metrics_guard.ports import NodeRef
from metrics_guard.service.remediate_ports import CommandState, InvocationState, RolloutCommand
from tests.unit.remediation.fake_apiserver import FakeNode


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[FakeNode]]:
    made = []
    for i in (1, 2):
        base = tmp_path / f"n{i}"
        base.mkdir()
        made.append(FakeNode(base))
    yield made
    for n in made:
        n.close()


def test_rollout_stops_at_failing_node(tmp_path: Path, nodes: list[FakeNode]) -> None:
    first, second = nodes
    # Both nodes share one CA in a real cluster; here each fake has its own, so issue from the first and
    # let the second reject it (its gauge never goes to 0).
    material = first.new_material()
    first.good.add(material.sha256)
    store = LocalMaterialStore(tmp_path / "material")
    store.put("/p", material.bundle_b64())
    assert stat.S_IMODE(store.path_for("/p").stat().st_mode) == 0o600
    refs = {1: first, 2: second}
    runner = LocalCommandRunner(
        store,
        restart_command=lambda n: refs[n.index].restart_command(),
        kubeconfig_for=lambda n: str(refs[n.index].kubeconfig),
        env=dict(os.environ, MG_POLL_INTERVAL="0.2"),
    )
    command_nodes = tuple(
        NodeRef(
            index=i, name=f"apiserver-{i}", apiserver_url=f"https://127.0.0.1:{n.port}", node_root=str(n.root)
        )
        for i, n in refs.items()
    )
    command = RolloutCommand(
        "r1", "dev", command_nodes, "/p", material.sha256, node_timeout_s=3, reload_wait_s=1
    )
    command_id = runner.start(command)
    progress = runner.wait(command_id, command_nodes, timeout_s=120)
    assert progress.done and progress.state is CommandState.FAILED
    assert [n.state for n in progress.nodes] == [InvocationState.SUCCESS, InvocationState.FAILED]
    assert progress.nodes[1].result is not None and progress.nodes[1].result.status == "restored"
    assert runner.executions == [(command_id, 1), (command_id, 2)]
    assert first.cert_path.read_text() == material.cert_pem
    assert second.cert_path.read_text() != material.cert_pem
    store.delete("/p")
    assert not store.names()
