"""Exact request shapes of the responder's EC2 / SSM / SNS calls (botocore Stubber), and tag resolution."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from metrics_guard.adapters.connect import AwsClusterConnector
from metrics_guard.adapters.ssm_runner import Ec2NodeResolver, SsmMaterialStore
from metrics_guard.adapters.step_notifier import SnsStepNotifier
from metrics_guard.config import ControlPlane
from metrics_guard.ports import TransportLimits
from metrics_guard.service.remediate_ports import RolloutStep

TAG = {"key": "metrics-guard:control-plane", "value": "prod"}
FILTERS = [
    {"Name": "tag:metrics-guard:control-plane", "Values": ["prod"]},
    {"Name": "instance-state-name", "Values": ["running"]},
]


def client(service: str) -> Any:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return session.client(service)  # type: ignore[call-overload]


def reservations(*instances: tuple[str, str | None]) -> dict[str, Any]:
    return {
        "Reservations": [
            {
                "Instances": [
                    {
                        "InstanceId": iid,
                        "Tags": [{"Key": "metrics-guard:apiserver-index", "Value": idx}] if idx else [],
                    }
                    for iid, idx in instances
                ]
            }
        ]
    }


def test_tag_resolution_request_and_deterministic_order() -> None:
    ec2 = client("ec2")
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_instances",
            reservations(
                ("i-000000000000000cc", None), ("i-000000000000000aa", "2"), ("i-000000000000000bb", None)
            ),
            {"Filters": FILTERS},
        )
        nodes = Ec2NodeResolver(ec2).resolve_plane(ControlPlane.model_validate({"target_tag": TAG}))
        stub.assert_no_pending_responses()
    assert [(n.index, n.instance_id) for n in nodes] == [
        (1, "i-000000000000000bb"),
        (2, "i-000000000000000aa"),
        (3, "i-000000000000000cc"),
    ]


def test_listed_instances_keep_their_position_without_any_ec2_call() -> None:
    def no_client() -> Any:
        raise AssertionError("no EC2 call for listed instances")

    plane = ControlPlane.model_validate(
        {"instances": [{"instance_id": "i-0000000000000000f"}, {"instance_id": "i-0000000000000000a"}]}
    )
    nodes = Ec2NodeResolver(no_client).resolve_plane(plane)
    assert [(n.index, n.instance_id) for n in nodes] == [
        (1, "i-0000000000000000f"),
        (2, "i-0000000000000000a"),
    ]


def test_cert_probe_resolves_tag_only_control_planes() -> None:
    from metrics_guard.config import ClusterEntry

    class Secrets:
        def cluster_credentials(self, arn: str, *, token_required: bool = True) -> Any:
            from metrics_guard.adapters.secrets import ClusterCredentials

            return ClusterCredentials(token="t", ca_pem="-----BEGIN CERTIFICATE-----\n")

    class Planes(Ec2NodeResolver):
        def _tagged(self, key: str, value: str) -> list[tuple[str, int | None]]:
            return [("i-0000000000000000b", None), ("i-0000000000000000a", None)]

    entry = ClusterEntry.model_validate(
        {
            "name": "prod",
            "endpoint": "https://prod.example:6443",
            "layout": "binary",
            "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
            "control_plane": {"target_tag": TAG},
        }
    )
    connector = AwsClusterConnector(
        Secrets(),  # type: ignore[arg-type]
        limits=TransportLimits(),
        read_material_document="mg-read",
        nodes=Planes(lambda: None),  # type: ignore[arg-type, return-value]
    )
    plane = entry.control_plane
    assert plane is not None
    assert [n.instance_id for n in connector.control_plane_nodes(plane, "certs")] == [
        "i-0000000000000000a",
        "i-0000000000000000b",
    ]
    assert connector.control_plane_nodes(plane, "metrics") == []


@pytest.mark.parametrize(
    ("size", "tier"), [(1500, "Standard"), (5000, "Advanced")], ids=["ecdsa", "rsa-large"]
)
def test_material_put_request(size: int, tier: str) -> None:
    ssm = client("ssm")
    value = "A" * size
    with Stubber(ssm) as stub:
        stub.add_response(
            "put_parameter",
            {"Version": 1, "Tier": tier},
            {
                "Name": "/mg/material/prod/r1",
                "Value": value,
                "Type": "SecureString",
                "Overwrite": False,
                "Tier": tier,
                "Description": "metrics-guard rollout material; deleted when the rollout ends",
                "KeyId": "arn:aws:kms:us-east-1:1:key/k",
            },
        )
        stub.add_client_error(
            "delete_parameter", "ParameterNotFound", expected_params={"Name": "/mg/material/prod/r1"}
        )
        store = SsmMaterialStore(ssm, kms_key_id="arn:aws:kms:us-east-1:1:key/k")
        store.put("/mg/material/prod/r1", value)
        store.delete("/mg/material/prod/r1")  # already gone: fine
        stub.assert_no_pending_responses()


def test_step_notifier_publishes_operator_steps_only_and_never_raises() -> None:
    sns = client("sns")
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    with Stubber(sns) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "m1"},
            {
                "TopicArn": topic,
                "Subject": "[metrics-guard] remediation started prod",
                "Message": 'command sent\n\ncluster: prod\nstep: started\nrollout: r1\n\n{\n  "command_id": "c1"\n}',
                "MessageAttributes": {
                    "kind": {"DataType": "String", "StringValue": "remediation-step"},
                    "cluster": {"DataType": "String", "StringValue": "prod"},
                    "step": {"DataType": "String", "StringValue": "started"},
                },
            },
        )
        stub.add_client_error("publish", "InternalError")
        notifier = SnsStepNotifier(sns, topic)
        notifier.step(RolloutStep("prod", "r1", "recheck", "re-running the checks", {}))  # audited only
        notifier.step(RolloutStep("prod", "r1", "started", "command sent", {"command_id": "c1"}))
        notifier.step(RolloutStep("prod", "r1", "failed", "remediation failed", {}))  # error logged
        stub.assert_no_pending_responses()
