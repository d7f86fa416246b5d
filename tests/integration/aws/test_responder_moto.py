"""The responder handler against a moto server on loopback: real adapters end to end, except two stand-ins.

Stand-ins: the re-check / verification probe is ``ScriptedProbe`` (patched in for ``service.probe.run_probe``:
no Kubernetes cluster here), and the requestheader ConfigMap reader returns the CA the test created. moto runs
no SSM command: ``send_command`` is accepted and reported Success with empty output, so auto mode runs to
REMEDIATED (probe healthy after the command) or REMEDIATION_FAILED (probe still failing).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metrics_guard.adapters import requestheader as requestheader_module
from metrics_guard.adapters.dynamodb_rollouts import DynamoRolloutStore
from metrics_guard.model import rfc3339
from metrics_guard.service import probe as probe_module
from metrics_guard.service.remediate_ports import RequestheaderConfig
from tests.integration.aws.conftest import drain, queue
from tests.lambda_context import FakeLambdaContext
from tests.moto_server import MotoServer
from tests.servers import make_ca
from tests.unit.functions.handlers import load
from tests.unit.remediation.certs import cert_pem, key_pem
from tests.unit.remediation.certs import make_ca as make_long_ca
from tests.unit.service.responder_fakes import ScriptedProbe, document

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events"
CLUSTER = "prod-eu-1"
TOKEN = "responder-token-0123456789-do-not-log"


def finding_event(index: int = 2) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / "remediable_proxy_cert_expired.json").read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    f = document([index], at=now).findings[index - 1]
    data["detail"] = f.to_json()
    data["detail"]["observed_at"] = rfc3339(now)
    return data


@pytest.fixture
def setup(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="mg-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    events = aws.client("events")
    events.create_event_bus(Name="mg-findings")
    url, arn = queue(aws, "remediation-findings")
    events.put_rule(
        Name="all",
        EventBusName="mg-findings",
        EventPattern=json.dumps({"source": ["metrics-guard"], "detail-type": ["Metrics Guard Finding"]}),
    )
    events.put_targets(Rule="all", EventBusName="mg-findings", Targets=[{"Id": "q", "Arn": arn}])
    sns = aws.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    notes_url, notes_arn = queue(aws, "notes")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=notes_arn)
    secrets = aws.client("secretsmanager")
    cluster_ca = make_ca()
    creds = secrets.create_secret(
        Name=f"metrics-guard/clusters/{CLUSTER}",
        SecretString=json.dumps({"token": TOKEN, "ca_pem": cluster_ca.cert_pem.decode()}),
    )
    ca_cert, ca_key = make_long_ca()
    ca_pem, ca_key_pem = cert_pem(ca_cert), key_pem(ca_key)
    ca_secret = secrets.create_secret(
        Name="metrics-guard/requestheader-ca",
        SecretString=json.dumps({"cert_pem": ca_pem, "key_pem": ca_key_pem}),
    )
    ec2 = aws.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ids = []
    for index in (1, 2, 3):
        reservation = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "metrics-guard:control-plane", "Value": CLUSTER},
                        {"Key": "metrics-guard:apiserver-index", "Value": str(index)},
                    ],
                }
            ],
        )
        ids.append(reservation["Instances"][0]["InstanceId"])
    entry = {
        "name": CLUSTER,
        "endpoint": "https://127.0.0.1:9",
        "layout": "binary",
        "credentials_secret_arn": creds["ARN"],
        "control_plane": {"target_tag": {"key": "metrics-guard:control-plane", "value": CLUSTER}},
    }
    aws.client("ssm").put_parameter(Name="/mg/clusters", Value=json.dumps([entry]), Type="String")
    for key, value in {
        "TABLE_NAME": "mg-state",
        "EVENT_BUS_NAME": "mg-findings",
        "REGISTRY_PARAMETER": "/mg/clusters",
        "CA_SECRET_ARN": ca_secret["ARN"],
        "TOPIC_ARN": topic,
        "REMEDIATION_DOCUMENT": "mg-remediate",
        "MATERIAL_PARAMETER_PREFIX": "/mg/material/",
        "VERIFY_TIMEOUT_SECONDS": "2",
        "VERIFY_INTERVAL_SECONDS": "1",
    }.items():
        monkeypatch.setenv(key, value)

    class Requestheader:
        def __init__(self, transport: object, **_: object) -> None:
            pass

        def read(self, cluster: str) -> RequestheaderConfig:
            return RequestheaderConfig((ca_pem,), ("aggregator",))

    monkeypatch.setattr(requestheader_module, "KubeRequestheaderReader", Requestheader)
    return {"queue": url, "notes": notes_url, "ids": ids, "ca_key": ca_key_pem}


def _scan_for_keys(texts: list[str], ca_key: str) -> None:
    marker = ca_key.splitlines()[1]
    for text in texts:
        assert "PRIVATE KEY" not in text
        assert marker not in text


def test_dry_run_publishes_a_plan_and_audits(
    aws: MotoServer,
    setup: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RESPONDER_MODE", "dry-run")
    probe = ScriptedProbe([document([2], at=datetime.now(UTC))])
    monkeypatch.setattr(probe_module, "run_probe", probe)
    handler = load("responder").lambda_handler
    result = handler(finding_event(), FakeLambdaContext())
    assert result["ok"] is True and result["action"] == "planned", result
    bodies = drain(aws.client("sqs"), setup["queue"], expect=1)
    assert [b["detail"]["code"] for b in bodies] == ["REMEDIATION_PLANNED"]
    plan = bodies[0]["detail"]["evidence"]["plan"]
    assert plan["nodes"] == [setup["ids"][1], setup["ids"][0], setup["ids"][2]]  # failing apiserver 2 first
    store = DynamoRolloutStore(aws.client("dynamodb"), "mg-state", now=lambda: datetime.now(UTC))
    kinds = [k for k, _ in store.audit_records(CLUSTER)]
    assert kinds == ["remediation.recheck", "remediation.planned"]
    _scan_for_keys([json.dumps(bodies), capsys.readouterr().out], setup["ca_key"])


@pytest.mark.parametrize("healthy_after", [True, False], ids=["remediated", "verification-fails"])
def test_auto_rolls_through_ssm_once(
    aws: MotoServer,
    setup: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    healthy_after: bool,
) -> None:
    monkeypatch.setenv("RESPONDER_MODE", "auto")
    now = datetime.now(UTC)
    after = document([] if healthy_after else [2], at=now)
    monkeypatch.setattr(probe_module, "run_probe", ScriptedProbe([document([2], at=now), after]))
    handler = load("responder").lambda_handler
    event, other = finding_event(), finding_event(3)  # expired-all: one finding per node, one probe run
    first = handler(event, FakeLambdaContext())
    duplicate = handler(event | {"id": "redelivery"}, FakeLambdaContext())
    other_node = handler(other, FakeLambdaContext())
    wanted = "remediated" if healthy_after else "failed"
    assert first["action"] == wanted, first
    assert duplicate == first
    assert other_node["action"] == "covered" and other_node["rollout_id"] == first["rollout_id"]
    ssm = aws.client("ssm")
    commands = ssm.list_commands()["Commands"]
    assert len(commands) == 1 and commands[0]["CommandId"] == first["command_id"]
    assert sorted(commands[0]["InstanceIds"]) == sorted(setup["ids"])  # moto does not keep the list order
    assert commands[0]["MaxConcurrency"] == "1" and commands[0]["MaxErrors"] == "0"
    assert ssm.get_parameters_by_path(Path="/mg/material", Recursive=True)["Parameters"] == []  # deleted
    bodies = drain(aws.client("sqs"), setup["queue"], expect=2)
    final = "REMEDIATED" if healthy_after else "REMEDIATION_FAILED"
    assert [b["detail"]["code"] for b in bodies] == ["REMEDIATION_PLANNED", final]
    order = [n["instance_id"] for n in bodies[1]["detail"]["evidence"]["nodes"]]
    assert order == [setup["ids"][1], setup["ids"][0], setup["ids"][2]]  # failing apiserver 2 first
    notes = drain(aws.client("sqs"), setup["notes"], expect=3)
    assert notes, "step notifications on the topic"
    _scan_for_keys(
        [json.dumps(commands, default=str), json.dumps(bodies), json.dumps(notes), capsys.readouterr().out],
        setup["ca_key"],
    )
