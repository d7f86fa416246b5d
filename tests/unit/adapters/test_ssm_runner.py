"""The SSM runner's exact request shapes and status sequences, with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from metrics_guard.adapters.ssm_runner import SsmCommandRunner, SsmMaterialStore
from metrics_guard.ports import NodeRef
from metrics_guard.remediation.document import command_parameters
from metrics_guard.service.remediate_ports import CommandState, InvocationState, RolloutCommand

CID = "11111111-2222-3333-4444-555555555555"
NODES = tuple(NodeRef(index=i, name=f"cp-{i}", instance_id=f"i-0000000000000000{i}") for i in (2, 1, 3))
COMMAND = RolloutCommand(
    rollout_id="r1",
    cluster="prod",
    nodes=NODES,
    parameter_name="/metrics-guard/rollout/prod/r1",
    expected_sha256="ab" * 32,
)


@pytest.fixture
def ssm() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def runner(client: Any) -> SsmCommandRunner:
    clock = iter(float(i) for i in range(10_000))
    return SsmCommandRunner(
        client,
        "MetricsGuard-InstallProxyCert",
        poll_interval_s=5,
        clock=lambda: next(clock),
        sleep=lambda s: None,
    )


def test_send_command_shape(ssm: tuple[Any, Stubber]) -> None:
    client, stub = ssm
    expected = {
        "DocumentName": "MetricsGuard-InstallProxyCert",
        "DocumentVersion": "$DEFAULT",
        "InstanceIds": ["i-00000000000000002", "i-00000000000000001", "i-00000000000000003"],
        "Parameters": command_parameters(COMMAND),
        "MaxConcurrency": "1",
        "MaxErrors": "0",
        "Comment": "metrics-guard rollout r1 (prod)",
    }
    stub.add_response("send_command", {"Command": {"CommandId": CID}}, expected)
    assert runner(client).start(COMMAND) == CID
    flat = repr(expected["Parameters"])
    assert "PRIVATE" not in flat and "/metrics-guard/rollout/prod/r1" in flat


def _list(stub: Stubber, status: str) -> None:
    stub.add_response(
        "list_commands", {"Commands": [{"CommandId": CID, "Status": status}]}, {"CommandId": CID}
    )


def _inv(stub: Stubber, node: NodeRef, status: str, result: str | None = None) -> None:
    if status == "missing":
        stub.add_client_error(
            "get_command_invocation",
            "InvocationDoesNotExist",
            expected_params={"CommandId": CID, "InstanceId": node.instance_id},
        )
        return
    out = f"log\nmetrics-guard-result status={result} node=x changed=yes restarted=no cert_sha256=none reason=r\n"
    stub.add_response(
        "get_command_invocation",
        {
            "CommandId": CID,
            "InstanceId": str(node.instance_id),
            "Status": status,
            "StandardOutputContent": out if result else "",
            "StatusDetails": status,
        },
        {"CommandId": CID, "InstanceId": node.instance_id},
    )


def test_success_after_polling(ssm: tuple[Any, Stubber]) -> None:
    client, stub = ssm
    _list(stub, "InProgress")
    _inv(stub, NODES[0], "Success", "installed")
    _inv(stub, NODES[1], "InProgress")
    _inv(stub, NODES[2], "missing")
    _list(stub, "Success")
    for node in NODES:
        _inv(stub, node, "Success", "installed")
    progress = runner(client).wait(CID, NODES, timeout_s=60)
    assert progress.state is CommandState.SUCCESS and progress.succeeded
    assert all(n.result is not None and n.result.status == "installed" for n in progress.nodes)


def test_failed_on_second_node(ssm: tuple[Any, Stubber]) -> None:
    client, stub = ssm
    _list(stub, "Failed")
    _inv(stub, NODES[0], "Success", "installed")
    _inv(stub, NODES[1], "Failed", "restored")
    _inv(stub, NODES[2], "Cancelled")
    progress = runner(client).wait(CID, NODES, timeout_s=60)
    assert progress.state is CommandState.FAILED and not progress.succeeded
    states = [n.state for n in progress.nodes]
    assert states == [InvocationState.SUCCESS, InvocationState.FAILED, InvocationState.CANCELLED]
    assert progress.nodes[1].result is not None and progress.nodes[1].result.status == "restored"
    assert progress.nodes[2].detail is not None and "cancelled" in progress.nodes[2].detail


@pytest.mark.parametrize(
    ("status", "state"), [("TimedOut", CommandState.TIMED_OUT), ("Cancelled", CommandState.CANCELLED)]
)
def test_terminal_failures(ssm: tuple[Any, Stubber], status: str, state: CommandState) -> None:
    client, stub = ssm
    _list(stub, status)
    _inv(stub, NODES[0], status)
    _inv(stub, NODES[1], "missing")
    _inv(stub, NODES[2], "Pending")
    progress = runner(client).wait(CID, NODES, timeout_s=60)
    assert progress.state is state and progress.done
    assert [n.state for n in progress.nodes][1:] == [InvocationState.NOT_RUN, InvocationState.NOT_RUN]


def test_wait_returns_when_time_is_up(ssm: tuple[Any, Stubber]) -> None:
    client, stub = ssm
    _list(stub, "InProgress")
    for node in NODES:
        _inv(stub, node, "InProgress")
    progress = runner(client).wait(CID, NODES, timeout_s=3)
    assert not progress.done


def test_material_store_shapes(ssm: tuple[Any, Stubber]) -> None:
    client, stub = ssm
    stub.add_response(
        "put_parameter",
        {"Version": 1},
        {
            "Name": "/p",
            "Value": "dmFsdWU=",
            "Type": "SecureString",
            "Overwrite": False,
            "Tier": "Standard",
            "Description": "metrics-guard rollout material; deleted when the rollout ends",
        },
    )
    stub.add_response("delete_parameter", {}, {"Name": "/p"})
    stub.add_client_error("delete_parameter", "ParameterNotFound", expected_params={"Name": "/p"})
    store = SsmMaterialStore(client)
    store.put("/p", "dmFsdWU=")
    store.delete("/p")
    store.delete("/p")  # already gone: fine
